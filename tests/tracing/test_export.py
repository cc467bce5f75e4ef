from __future__ import annotations

import threading
from collections.abc import Sequence

import pytest

import tracelake
from tracelake.model import SpanRecord
from tracelake.testing import capture_traces
from tracelake.tracing import ExperimentRef, InMemorySink
from tracelake.tracing._ids import RandomIds


class BlockingSink:
    """A store that hangs until released: the app must not wait for it."""

    def __init__(self) -> None:
        self.release = threading.Event()
        self.records: list[SpanRecord] = []

    def export(self, experiment: ExperimentRef, records: Sequence[SpanRecord]) -> None:
        self.release.wait(30)
        self.records.extend(records)

    def shutdown(self) -> None:
        self.release.set()


class FailingSink:
    def __init__(self) -> None:
        self.calls = 0

    def export(self, experiment: ExperimentRef, records: Sequence[SpanRecord]) -> None:
        self.calls += 1
        raise OSError("disk full")

    def shutdown(self) -> None:
        pass


def test_full_queue_drops_and_counts_without_blocking() -> None:
    sink = BlockingSink()
    tracelake.configure(sink=sink, export_queue_size=10, export_batch_size=1)
    for _ in range(50):
        with tracelake.start_span("burst"):
            pass
    stats = tracelake.export_stats()
    assert stats is not None
    assert stats.dropped >= 39  # the worker may hold one batch while the queue refills
    sink.release.set()
    assert tracelake.flush(10) is False  # spans were lost since the last flush: say so
    assert len(sink.records) == 50 - tracelake.export_stats().dropped  # type: ignore[union-attr]
    assert tracelake.flush(10) is True  # nothing lost since


def test_failing_store_is_logged_once_and_app_unaffected(caplog: pytest.LogCaptureFixture) -> None:
    sink = FailingSink()
    tracelake.configure(sink=sink, export_batch_size=1000)

    @tracelake.trace
    def work(i: int) -> int:
        return i * 2

    assert [work(i) for i in range(20)] == [i * 2 for i in range(20)]
    assert tracelake.flush(30) is False
    for _ in range(3):
        work(1)
    assert tracelake.flush(30) is False
    failures = [r for r in caplog.records if "could not store" in r.getMessage()]
    assert len(failures) == 1
    assert tracelake.export_stats().failed == 23  # type: ignore[union-attr]


def test_flush_covers_spans_ended_before_it() -> None:
    sink = InMemorySink()
    tracelake.configure(sink=sink, export_interval_ms=3_600_000, export_batch_size=100_000)
    for i in range(1_000):
        with tracelake.start_span(f"s{i}"):
            pass
    assert tracelake.flush(10) is True
    assert len(sink.records) == 1_000


def test_redaction_hook_sees_every_span_and_can_drop() -> None:
    def redact(record: SpanRecord) -> SpanRecord | None:
        if record.name == "secret":
            return None
        attributes = dict(record.attributes)
        attributes["tracelake.span.inputs"] = attributes["tracelake.span.inputs"].replace("4111", "****")
        return _replace(record, attributes)

    with capture_traces(redact=redact) as capture:
        with tracelake.start_span("pay", inputs={"card": "4111 1111"}), tracelake.start_span("secret", inputs={"x": 1}):
            pass
        spans = capture.spans
    assert [s.name for s in spans] == ["pay"]
    assert spans[0].inputs == {"card": "**** 1111"}


def _replace(record: SpanRecord, attributes: dict[str, object]) -> SpanRecord:
    import dataclasses

    return dataclasses.replace(record, attributes=attributes)


def test_redaction_hook_that_raises_drops_the_span() -> None:
    def redact(record: SpanRecord) -> SpanRecord | None:
        raise ValueError("bug in hook")

    with capture_traces(redact=redact) as capture:
        with tracelake.start_span("pay", inputs={"card": "4111"}):
            pass
        assert capture.records == []


def test_sampling_ratio_zero_records_nothing_and_app_runs() -> None:
    with capture_traces(sampling_ratio=0.0) as capture:

        @tracelake.trace
        def f() -> int:
            with tracelake.start_span("child") as span:
                span.set_inputs(1)
            return 7

        assert f() == 7
        assert capture.records == []


def test_sampling_is_per_trace_and_children_follow_the_root() -> None:
    with capture_traces(sampling_ratio=0.5, id_generator=RandomIds()) as capture:
        for _ in range(2_000):
            with tracelake.start_span("root"), tracelake.start_span("child"):
                pass
        records = capture.records
    roots = [r for r in records if r.name == "root"]
    children = [r for r in records if r.name == "child"]
    assert 850 < len(roots) < 1_150  # binomial(2000, 0.5): ±6.7 sigma
    assert {c.trace_id for c in children} == {r.trace_id for r in roots}


def test_tracing_disabled_by_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRACELAKE_TRACING", "false")
    sink = InMemorySink()
    tracelake.configure(sink=sink)

    @tracelake.trace
    def f(x: int) -> int:
        return x + 1

    assert f(1) == 2
    with tracelake.start_span("s") as span:
        span.set_inputs("ignored")
        assert isinstance(span, tracelake.NoOpSpan)
    assert tracelake.flush(5)
    assert sink.records == []


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("TRACELAKE_SAMPLING_RATIO", "2"),
        ("TRACELAKE_SAMPLING_RATIO", "half"),
        ("TRACELAKE_TRACING", "maybe"),
        ("TRACELAKE_MAX_PAYLOAD_BYTES", "-1"),
        ("TRACELAKE_EXPORT_QUEUE_SIZE", "lots"),
    ],
)
def test_bad_environment_value_is_a_clear_error(monkeypatch: pytest.MonkeyPatch, name: str, value: str) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(tracelake.ConfigError, match=name):
        tracelake.configure(sink=InMemorySink())


def test_remote_tracking_uri_is_rejected_clearly() -> None:
    with pytest.raises(tracelake.ConfigError, match="TRACELAKE_TRACKING_URI"):
        tracelake.configure(tracking_uri="ftp://example")
