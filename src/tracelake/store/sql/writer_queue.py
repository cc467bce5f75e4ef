"""A queue in front of SQLite's write lock, so a waiting writer starts the moment the lock is free.

SQLite lets one transaction write at a time. A writer that finds the lock taken waits in SQLite's
busy handler, which sleeps 1, 2, 5, 10, … up to 100 ms between tries: with two server processes
ingesting into one database, each commit left the other process asleep for milliseconds after the
lock was free, and a second process added almost nothing (bench_ingest: 14.2k → 14.6k spans/s).

Writers of one database therefore queue first on a thread lock (within a process) and on an
advisory `flock` of a file beside the database (between processes), then begin their transaction.
The queue only orders writers; SQLite's lock still decides: a process that does not use the queue
(an older tracelake, the sqlite3 shell) is waited for by SQLite's busy timeout as before, and a
writer that waited its whole busy timeout in the queue goes on to `BEGIN IMMEDIATE` anyway, so a
stuck process yields "database is locked", never a hang.

Between processes the queue polls a non-blocking `flock` at short intervals (at most
`MAX_POLL_S`): a blocking `flock` cannot time out, and a handoff late by half a poll is still far
below a transaction's length.
"""

from __future__ import annotations

import fcntl
import os
import threading
import time
import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Final

__all__ = ["MAX_POLL_S", "WriterQueue", "lock_path_of"]

#: Longest pause between two tries of the file lock when another process holds it.
MAX_POLL_S: Final = 0.0005
_FIRST_POLL_S: Final = 0.00005


def lock_path_of(database: Path) -> Path:
    """The lock file of a database: `tracelake.db` → `tracelake.db-writers`, as SQLite names `-wal`."""
    return database.with_name(database.name + "-writers")


class WriterQueue:
    """Orders the write transactions of one SQLite database across threads and processes."""

    def __init__(self, lock_path: Path, timeout_s: float) -> None:
        self._lock_path = lock_path
        self._timeout_s = timeout_s
        self._thread_lock = threading.RLock()
        self._depth = 0  # nesting of `held()` by the thread holding `_thread_lock`
        self._fd: int | None = None
        self._pid = -1
        _QUEUES.add(self)

    def _after_fork(self) -> None:
        # Only the forking thread lives on in the child: a lock another thread held stays held.
        self._thread_lock = threading.RLock()
        self._depth = 0

    @contextmanager
    def held(self) -> Iterator[None]:
        """Hold the queue's head for the duration of one write transaction.

        Re-entrant within a thread (only the outermost level takes the file lock). Never raises for
        the queue's own sake: without its lock file, writers fall back to SQLite's busy handler.
        """
        with self._thread_lock:
            self._depth += 1
            locked = self._depth == 1 and self._lock_file()
            try:
                yield
            finally:
                self._depth -= 1
                if locked and self._fd is not None:
                    fcntl.flock(self._fd, fcntl.LOCK_UN)

    def close(self) -> None:
        """Close the lock file (a later `held()` opens it again)."""
        with self._thread_lock:
            if self._fd is not None and self._pid == os.getpid():
                os.close(self._fd)
            self._fd = None

    def _lock_file(self) -> bool:
        """Take the file lock, waiting up to the timeout; whether it was taken."""
        fd = self._descriptor()
        if fd is None:
            return False
        deadline = time.monotonic() + self._timeout_s
        pause = _FIRST_POLL_S
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return True
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    return False  # SQLite's own busy timeout takes over from here
                time.sleep(pause)
                pause = min(pause * 2, MAX_POLL_S)
            except OSError:
                return False

    def _descriptor(self) -> int | None:
        # A forked child shares its parent's open file description, and with it the parent's flock:
        # it opens its own.
        if self._fd is not None and self._pid == os.getpid():
            return self._fd
        try:
            self._fd = os.open(self._lock_path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        except OSError:
            self._fd = None  # e.g. a read-only folder: SQLite's busy handler alone orders writers
        self._pid = os.getpid()
        return self._fd


_QUEUES: weakref.WeakSet[WriterQueue] = weakref.WeakSet()


def _reset_after_fork() -> None:
    for queue in list(_QUEUES):
        queue._after_fork()


os.register_at_fork(after_in_child=_reset_after_fork)
