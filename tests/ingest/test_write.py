from __future__ import annotations

from collections.abc import Sequence

from tracelake.ingest import BatchSink, write_spans
from tracelake.model import TraceBatch, WriteResult

from .records import record


class RecordingSink:
    def __init__(self) -> None:
        self.calls: list[tuple[str, list[TraceBatch]]] = []

    def write_batches(self, experiment_id: str, batches: Sequence[TraceBatch]) -> WriteResult:
        self.calls.append((experiment_id, list(batches)))
        return WriteResult(written_spans=sum(len(b.spans) for b in batches), traces=len(batches))


def test_write_spans_normalises_and_writes_once() -> None:
    sink = RecordingSink()
    result = write_spans(sink, "exp-1", [record("a", trace_id="1" * 32), record("b", trace_id="2" * 32)])
    assert result == WriteResult(written_spans=2, traces=2)
    [(experiment_id, batches)] = sink.calls
    assert experiment_id == "exp-1"
    assert [batch.trace_id for batch in batches] == ["1" * 32, "2" * 32]


def test_nothing_to_write_does_not_call_the_sink() -> None:
    sink = RecordingSink()
    assert write_spans(sink, "exp-1", []) == WriteResult()
    assert sink.calls == []


def test_a_store_like_object_is_a_batch_sink() -> None:
    assert isinstance(RecordingSink(), BatchSink)
    assert not isinstance(object(), BatchSink)
