"""Checkpointing SQLite's write-ahead log on a thread of its own, off the write path.

In WAL mode SQLite copies committed pages back into the database file ("checkpoints") when the log
passes 1,000 pages, inside the commit that crossed the line, and syncs the file to disk there. On a
disk (ext4, not tmpfs) that sync made every tenth commit of a burst wait tens of milliseconds, and
the whole export pipeline with it (bench_persist: about a tenth of the throughput).

Here store writes only `notify()` after their commit; a daemon thread runs a PASSIVE checkpoint
(it never blocks writers or readers) at most once per `interval_s`, on a connection of its own,
with the GIL released while SQLite works. The writers' connections keep automatic checkpoints at a
higher mark (`WRITER_AUTOCHECKPOINT_PAGES`), so the log stays bounded: under continuous writes this
thread never quite catches up with the last commit, and the writer that reaches the mark copies
the rest and lets the log start over.
"""

from __future__ import annotations

import logging
import os
import threading
from typing import Final

from sqlalchemy import Engine

__all__ = ["WRITER_AUTOCHECKPOINT_PAGES", "WalCheckpointer"]

logger = logging.getLogger("tracelake")

#: The writers' own automatic checkpoint mark, in pages of 4 KiB (SQLite's default is 1,000), which
#: also bounds the log file. Under continuous writes a PASSIVE checkpoint never catches up with the
#: last commit, so the log restarts from its beginning only after a checkpoint a writer ran at this
#: mark. That one copies only what the background checkpoints have not: the higher the mark, the
#: less of the copying happens while the write lock is held, for a log of up to 160 MiB.
WRITER_AUTOCHECKPOINT_PAGES: Final = 40_000


class WalCheckpointer:
    """Runs PASSIVE checkpoints of one SQLite database on a daemon thread, after writes."""

    def __init__(self, engine: Engine, interval_s: float = 0.5) -> None:
        self._engine = engine
        self._interval_s = interval_s
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._closing = False
        self._thread: threading.Thread | None = None
        self._pid = os.getpid()
        self._lock = threading.Lock()
        self.checkpoints = 0
        """PASSIVE checkpoints run so far (for tests and diagnostics)."""

    def notify(self) -> None:
        """Say that a write committed: a checkpoint follows within `interval_s`. Never blocks."""
        if self._closing:
            return
        if self._thread is None or self._pid != os.getpid():
            self._start()
        self._wake.set()

    def close(self, timeout_s: float = 10.0) -> None:
        """Run a last checkpoint of what was written and stop the thread."""
        self._closing = True
        self._stop.set()
        self._wake.set()
        thread = self._thread
        if thread is not None and self._pid == os.getpid():
            thread.join(timeout_s)

    def _start(self) -> None:
        with self._lock:
            if self._thread is not None and self._pid == os.getpid():
                return
            # A forked child has no such thread (and a fresh event): start its own.
            self._pid = os.getpid()
            self._wake = threading.Event()
            self._thread = threading.Thread(target=self._run, name="tracelake-wal-checkpoint", daemon=True)
            self._thread.start()

    def _run(self) -> None:
        while True:
            self._wake.wait()
            if not self._closing:
                # Let a burst's commits gather: one checkpoint per interval at most (close() cuts
                # the wait short).
                self._stop.wait(self._interval_s)
            self._wake.clear()
            self._checkpoint()
            if self._closing:
                return

    def _checkpoint(self) -> None:
        try:
            with self._engine.connect() as connection:
                connection.exec_driver_sql("PRAGMA wal_checkpoint(PASSIVE)")
            self.checkpoints += 1
        except Exception:  # the writers' automatic checkpoints remain: log, never raise
            logger.debug("tracelake: background WAL checkpoint failed", exc_info=True)
