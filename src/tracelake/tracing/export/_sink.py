"""Where exported spans go: a sink takes a batch of SpanRecords for one experiment.

A sink may also store in the background (`WaitableSink`): its `export` hands the batch to a thread
of its own (`BackgroundWrites`) and returns, so that the export thread converts the next batch
while this one is written; the exporter then calls `wait_exported()` before it reports a flush done.
"""

from __future__ import annotations

import logging
import os
import threading
import time
import weakref
from collections.abc import Callable, Sequence
from typing import Protocol, runtime_checkable

from tracelake.model import SpanRecord
from tracelake.tracing._errors import log_once

logger = logging.getLogger("tracelake")

#: Waits before each new attempt of a failed store write; after the last one its spans are lost.
RETRY_DELAYS_S = (0.05, 0.2, 1.0)


class ExperimentRef:
    """The experiment a trace was started under, resolved to an id by the sink on the export thread.

    Resolving lazily keeps database work (and the SQL stack's import) off the caller's thread.
    """

    __slots__ = ("experiment_id", "name")

    def __init__(self, name: str | None = None, experiment_id: str | None = None) -> None:
        self.name = name
        self.experiment_id = experiment_id

    def __repr__(self) -> str:
        return f"ExperimentRef(name={self.name!r}, experiment_id={self.experiment_id!r})"


class ExportReport(Protocol):
    """What a sink may return when it accepted a batch without delivering every span of it.

    `spooled` spans are kept for later delivery (e.g. on disk while a server is away): not lost, but
    not acknowledged yet. `rejected` spans are lost for good (refused by the destination).
    """

    @property
    def spooled(self) -> int: ...

    @property
    def rejected(self) -> int: ...


class SpanSink(Protocol):
    """Receives converted spans on the export thread.

    `export` returns None when every span was stored, or an `ExportReport` saying how many were only
    spooled or were rejected. It may raise: the exporter then retries, and counts the spans as failed.
    """

    def export(self, experiment: ExperimentRef, records: Sequence[SpanRecord]) -> ExportReport | None: ...

    def shutdown(self) -> None: ...


@runtime_checkable
class WaitableSink(Protocol):
    """Optional extension of `SpanSink`: `export` may return before the spans are stored.

    The exporter calls `wait_exported` before it completes a flush, so `flush()` still reports True
    only once every span it covers is stored.
    """

    def wait_exported(self) -> int:
        """Block until every batch handed to `export` so far is stored or given up.

        Returns:
            How many spans were given up (lost after retries) since the previous call.
        """
        ...


class BackgroundWrites:
    """One background thread that runs store writes, one at a time, with retries.

    `submit` hands over a write and returns at once unless the previous write is still running (then
    it blocks until that one is done): one write runs while the export thread prepares the next, so
    memory stays bounded (two batches at most) and a slow store slows the export thread down instead
    of piling up batches.

    Thread contract: `submit` and `wait` are called from one thread (the export thread); `close`
    from any. A forked child starts a fresh thread at its first `submit`; the write the parent had in
    hand is the parent's to finish.
    """

    def __init__(self, name: str, retry_delays_s: Sequence[float] = RETRY_DELAYS_S) -> None:
        """Create the writer; its thread (named `name`) starts at the first `submit`."""
        self._name = name
        self._delays = tuple(retry_delays_s)
        self._cond = threading.Condition()
        self._waiting: tuple[Callable[[], object], int] | None = None
        self._busy = False
        self._failed = 0
        self._closing = False
        self._thread: threading.Thread | None = None
        ref = weakref.ref(self)

        def reset_in_child() -> None:
            writes = ref()
            if writes is not None:
                writes._after_fork()

        os.register_at_fork(after_in_child=reset_in_child)

    def submit(self, write: Callable[[], object], spans: int) -> None:
        """Run `write()` on the background thread; `spans` is what it stores, counted if it fails."""
        with self._cond:
            while self._waiting is not None or self._busy:
                self._cond.wait()
            self._waiting = (write, spans)
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name=self._name, daemon=True)
                self._thread.start()
            self._cond.notify_all()

    def wait(self, timeout: float | None = None) -> int:
        """Block until every submitted write finished; return the spans lost since the last call.

        With a `timeout` that passes first, the spans still in flight are not counted yet.
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._cond:
            while self._waiting is not None or self._busy:
                remaining = None if deadline is None else deadline - time.monotonic()
                if (remaining is not None and remaining <= 0) or self._thread is None:
                    break
                self._cond.wait(remaining)
            failed, self._failed = self._failed, 0
            return failed

    def close(self, timeout: float | None = 10.0) -> None:
        """Finish the writes in hand (retrying once at most), then stop the thread."""
        with self._cond:
            self._closing = True
            self._cond.notify_all()
            thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout)

    def _after_fork(self) -> None:
        # The parent's thread does not exist here (and may have held the lock at the fork).
        self._cond = threading.Condition()
        self._waiting, self._busy, self._failed, self._thread = None, False, 0, None

    def _run(self) -> None:
        cond = self._cond
        while True:
            with cond:
                while self._waiting is None and not self._closing:
                    cond.wait()
                if self._waiting is None:
                    self._thread = None
                    return
                (write, spans), self._waiting = self._waiting, None
                self._busy = True
            stored = self._attempt(write, spans)
            with cond:
                self._busy = False
                if not stored:
                    self._failed += spans
                cond.notify_all()

    def _attempt(self, write: Callable[[], object], spans: int) -> bool:
        for attempt, delay in enumerate((*self._delays, None)):
            try:
                write()
            except Exception:
                if delay is None or (self._closing and attempt > 0):
                    log_once("sink", "tracelake: could not store %d spans; they are lost", spans, exc_info=True)
                    return False
                time.sleep(delay)
            else:
                return True
        return False  # pragma: no cover - the loop always returns


class InMemorySink:
    """Keeps every exported record in a list; used by `tracelake.testing` and in unit tests."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.records: list[tuple[ExperimentRef, SpanRecord]] = []

    def export(self, experiment: ExperimentRef, records: Sequence[SpanRecord]) -> None:
        with self._lock:
            self.records.extend((experiment, record) for record in records)

    def shutdown(self) -> None:
        pass

    def clear(self) -> None:
        with self._lock:
            self.records.clear()
