"""A sink that stores in the background: `flush()` still covers exactly what was stored."""

from __future__ import annotations

import threading
from collections.abc import Sequence

import pytest

import tracelake
from tracelake.model import SpanRecord
from tracelake.tracing import ExperimentRef
from tracelake.tracing.export._sink import BackgroundWrites, WaitableSink


class BackgroundSink:
    """Hands every batch to a `BackgroundWrites`; the store can be held up or made to fail."""

    def __init__(self, retry_delays_s: Sequence[float] = (0.0,)) -> None:
        self.writes = BackgroundWrites("test-writer", retry_delays_s)
        self.stored: list[SpanRecord] = []
        self.open = threading.Event()
        self.open.set()
        self.failing = False
        self.attempts = 0

    def export(self, experiment: ExperimentRef, records: Sequence[SpanRecord]) -> None:
        batch = list(records)
        self.writes.submit(lambda: self._store(batch), len(batch))

    def _store(self, batch: list[SpanRecord]) -> None:
        self.attempts += 1
        assert self.open.wait(30)
        if self.failing:
            raise OSError("disk full")
        self.stored.extend(batch)

    def wait_exported(self) -> int:
        return self.writes.wait()

    def shutdown(self) -> None:
        self.writes.close()


def make_spans(count: int) -> None:
    for n in range(count):
        with tracelake.start_span(f"span-{n}"):
            pass


def test_a_background_sink_is_a_waitable_sink() -> None:
    assert isinstance(BackgroundSink(), WaitableSink)


def test_flush_waits_for_the_background_writes() -> None:
    sink = BackgroundSink()
    tracelake.configure(sink=sink, export_batch_size=4)
    sink.open.clear()  # the store is slow: the first batch hangs in the writer thread
    make_spans(10)

    assert tracelake.flush(0.2) is False  # not stored yet, so not acknowledged
    sink.open.set()

    assert tracelake.flush(10) is True
    assert sorted(record.name for record in sink.stored) == sorted(f"span-{n}" for n in range(10))
    stats = tracelake.export_stats()
    assert stats is not None
    assert (stats.exported, stats.failed, stats.dropped) == (10, 0, 0)


def test_spans_a_background_write_loses_fail_the_flush() -> None:
    sink = BackgroundSink()
    tracelake.configure(sink=sink, export_batch_size=100)
    sink.failing = True
    make_spans(3)

    assert tracelake.flush(10) is False
    assert sink.attempts == 2  # one retry, then the batch is given up
    stats = tracelake.export_stats()
    assert stats is not None
    assert (stats.exported, stats.failed) == (0, 3)

    sink.failing = False
    make_spans(2)
    assert tracelake.flush(10) is True  # nothing lost since the last flush
    assert len(sink.stored) == 2


def test_writes_run_in_order_one_at_a_time() -> None:
    writes = BackgroundWrites("test-writer")
    done: list[int] = []
    running = threading.Lock()

    def write(n: int) -> None:
        assert running.acquire(blocking=False), "two writes ran at once"
        try:
            done.append(n)
        finally:
            running.release()

    for n in range(20):
        writes.submit(lambda n=n: write(n), 1)  # type: ignore[misc]

    assert writes.wait() == 0
    assert done == list(range(20))
    writes.close()


def test_closing_finishes_the_write_in_hand() -> None:
    writes = BackgroundWrites("test-writer")
    release = threading.Event()
    done: list[str] = []

    def slow() -> None:
        assert release.wait(30)
        done.append("slow")

    writes.submit(slow, 1)
    closer = threading.Thread(target=writes.close)
    closer.start()
    release.set()
    closer.join(30)

    assert done == ["slow"]
    assert writes.wait() == 0


@pytest.mark.parametrize("delays", [(), (0.0, 0.0)])
def test_a_failing_write_is_counted_once(delays: tuple[float, ...]) -> None:
    writes = BackgroundWrites("test-writer", delays)
    calls: list[int] = []

    def failing() -> None:
        calls.append(1)
        raise OSError("no")

    writes.submit(failing, 7)

    assert writes.wait() == 7
    assert writes.wait() == 0
    assert len(calls) == len(delays) + 1
    writes.close()
