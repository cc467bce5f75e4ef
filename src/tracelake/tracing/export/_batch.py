"""The export pipeline: a bounded queue drained by one background thread.

The caller's thread only appends to a deque (or counts a drop when it is full: never blocks). The
worker converts spans to records, applies the redaction hook, and hands batches to the sink with
retries. `flush()` places a marker in the queue and waits for the worker to reach it, so it covers
exactly the spans that ended before it was called.
"""

from __future__ import annotations

import collections
import logging
import os
import threading
import time
import weakref
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from tracelake.model import SpanRecord
from tracelake.tracing._errors import log_once
from tracelake.tracing.export._gc import COLLECTOR_PAUSE
from tracelake.tracing.export._sink import RETRY_DELAYS_S, ExperimentRef, SpanSink, WaitableSink

logger = logging.getLogger("tracelake")

RecordConverter = Callable[[Any], tuple[ExperimentRef, SpanRecord]]
RedactHook = Callable[[SpanRecord], "SpanRecord | None"]

_RETRY_DELAYS_S = RETRY_DELAYS_S


@dataclass(frozen=True)
class ExportStats:
    """Counters of the export pipeline since the process started."""

    exported: int
    dropped: int
    failed: int
    redacted: int
    queued: int
    spooled: int = 0
    """Spans a sink kept for later delivery (remote mode: on disk while the server is away)."""


class _FlushMarker:
    __slots__ = ("done", "ok")

    def __init__(self) -> None:
        self.done = threading.Event()
        self.ok = False


class BatchExporter:
    """Bounded queue + daemon worker between finished spans and a sink."""

    def __init__(
        self,
        sink: SpanSink,
        convert: RecordConverter,
        *,
        max_queue_size: int,
        batch_size: int,
        interval_s: float,
        redact: RedactHook | None = None,
        defer_gc: bool = True,
    ) -> None:
        self._sink = sink
        # Defer the garbage collector while a batch is converted and handed over (see _gc.py).
        self._defer_gc = defer_gc
        # A sink that stores in the background says when it is done (see WaitableSink).
        self._wait_sink = sink.wait_exported if isinstance(sink, WaitableSink) else None
        self._convert = convert
        self._max_queue = max_queue_size
        self._batch_size = batch_size
        self._interval = interval_s
        self._redact = redact
        self._exported = 0
        self._failed = 0
        self._dropped = 0
        self._redacted = 0
        self._spooled = 0
        self._marked_spooled = 0
        self._drop_lock = threading.Lock()
        self._lock = threading.Lock()
        self._marked_failures = 0
        self._marked_drops = 0
        self._shutdown = False
        self._start()
        # A forked child gets a fresh queue and worker instead of a dead thread's (gunicorn, Celery).
        ref = weakref.ref(self)

        def restart_in_child() -> None:
            exporter = ref()
            if exporter is not None:
                exporter._start()

        os.register_at_fork(after_in_child=restart_in_child)

    def _start(self) -> None:
        self._queue: collections.deque[Any] = collections.deque()
        self._flushes_waiting = 0  # flush markers in the queue
        self._wake = threading.Event()
        self._worker = threading.Thread(target=self._run, name="tracelake-exporter", daemon=True)
        self._worker.start()

    # Caller's thread -----------------------------------------------------------------------------
    def enqueue(self, item: Any) -> None:
        """Queue a finished span; never blocks. When the queue is full the span is dropped and counted."""
        queue = self._queue
        if len(queue) >= self._max_queue:
            with self._drop_lock:
                self._dropped += 1
            log_once("queue-full", "tracelake: export queue full (%d spans); dropping spans", self._max_queue)
            return
        queue.append(item)
        # is_set() is a plain read; set() takes a lock, so call it once per batch, not once per span.
        if len(queue) >= self._batch_size and not self._wake.is_set():
            self._wake.set()

    def flush(self, timeout: float | None = None) -> bool:
        """Wait until every span that ended before this call is exported.

        Returns:
            True if they all reached the sink and nothing was dropped, failed or only spooled (remote
            mode: kept on disk while the server is away) since the last flush.
        """
        if self._shutdown or threading.current_thread() is self._worker:
            return False
        marker = _FlushMarker()
        with self._lock:
            self._flushes_waiting += 1
        self._queue.append(marker)
        self._wake.set()
        if not marker.done.wait(timeout):
            return False
        return marker.ok

    def shutdown(self, timeout: float | None = 10.0) -> bool:
        """Flush, then stop the worker and the sink."""
        if self._shutdown:
            return True
        ok = self.flush(timeout)
        self._shutdown = True
        self._wake.set()
        self._worker.join(timeout)
        try:
            self._sink.shutdown()
        except Exception:
            log_once("sink-shutdown", "tracelake: error while closing the store", exc_info=True)
        return ok

    def stats(self) -> ExportStats:
        return ExportStats(self._exported, self._dropped, self._failed, self._redacted, len(self._queue), self._spooled)

    # Worker thread -------------------------------------------------------------------------------
    def _run(self) -> None:
        while True:
            self._wake.wait(self._interval)
            self._wake.clear()
            try:
                self._drain()
            except Exception:  # the worker must survive anything
                log_once("worker", "tracelake: exporter error", exc_info=True)
            if self._shutdown and not self._queue:
                return

    def _drain(self) -> None:
        queue = self._queue
        while queue:
            batch: list[Any] = []
            markers: list[_FlushMarker] = []
            while queue and len(batch) < self._batch_size:
                item = queue.popleft()
                if isinstance(item, _FlushMarker):
                    markers.append(item)
                    break  # spans after a marker belong to the next flush
                batch.append(item)
            if batch:
                if self._defer_gc:
                    with COLLECTOR_PAUSE:
                        self._export(batch)
                else:
                    self._export(batch)
            for marker in markers:
                self._complete(marker)
            # Past the first batch of a wake-up, write only full batches until the next interval:
            # spans that trickle in while the sink is busy would otherwise leave in many small
            # writes, each paying the sink's fixed cost (a transaction and a pack file, or an HTTP
            # request). A waiting flush, or shutdown, drains everything.
            if len(queue) < self._batch_size and not self._flushes_waiting and not self._shutdown:
                return

    def _complete(self, marker: _FlushMarker) -> None:
        with self._lock:
            self._flushes_waiting -= 1
        if self._wait_sink is not None:
            try:
                lost = int(self._wait_sink())
            except Exception:
                log_once("sink-wait", "tracelake: error while waiting for the store", exc_info=True)
                lost = 0
            # Counted as exported when handed over; they failed after all.
            self._exported -= lost
            self._failed += lost
        with self._drop_lock:
            dropped = self._dropped
        marker.ok = (
            self._failed == self._marked_failures
            and dropped == self._marked_drops
            and self._spooled == self._marked_spooled
        )
        self._marked_failures = self._failed
        self._marked_drops = dropped
        self._marked_spooled = self._spooled
        marker.done.set()

    def _export(self, batch: Sequence[Any]) -> None:
        groups: dict[int, tuple[ExperimentRef, list[SpanRecord]]] = {}
        for item in batch:
            try:
                experiment, record = self._convert(item)
            except Exception:
                self._failed += 1
                log_once("convert", "tracelake: could not convert a span; it is dropped", exc_info=True)
                continue
            if self._redact is not None:
                try:
                    redacted = self._redact(record)
                except Exception:
                    # Never export a span whose redaction failed: it may hold what the hook removes.
                    self._redacted += 1
                    log_once("redact", "tracelake: the redaction hook raised; the span is not exported", exc_info=True)
                    continue
                if redacted is None:
                    self._redacted += 1
                    continue
                record = redacted
            group = groups.get(id(experiment))
            if group is None:
                groups[id(experiment)] = (experiment, [record])
            else:
                group[1].append(record)
        for experiment, records in groups.values():
            self._send(experiment, records)

    def _send(self, experiment: ExperimentRef, records: list[SpanRecord]) -> None:
        for attempt, delay in enumerate((*_RETRY_DELAYS_S, None)):
            try:
                report = self._sink.export(experiment, records)
            except Exception:
                if delay is None or (self._shutdown and attempt > 0):
                    self._failed += len(records)
                    log_once("sink", "tracelake: could not store %d spans; they are lost", len(records), exc_info=True)
                    return
                time.sleep(delay)
            else:
                if report is None:
                    self._exported += len(records)
                else:
                    # Spooled spans are safe but not acknowledged: the flush covering them reports False.
                    self._spooled += report.spooled
                    self._failed += report.rejected
                    self._exported += len(records) - report.spooled - report.rejected
                return
