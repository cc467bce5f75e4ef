"""In-memory capture of spans for tests, with sequential ids and a fake clock."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from tracelake.model import Span, SpanRecord, Trace, TraceBatch
from tracelake.tracing import RUNTIME, InMemorySink
from tracelake.tracing._ids import FakeClock, SequentialIds

#: Attributes every tracelake span carries that add nothing to a test assertion.
_NOISE_PREFIXES = ("tracelake.span.", "tracelake.trace.", "tracelake.ingest.")


class TraceCapture:
    """Spans recorded while the capture is active, normalised exactly as the store would keep them."""

    def __init__(self, sink: InMemorySink) -> None:
        self._sink = sink

    @property
    def records(self) -> list[SpanRecord]:
        """Raw span records as they left the SDK (after redaction), in the order they ended."""
        RUNTIME.flush(10)
        return [record for _, record in self._sink.records]

    @property
    def batches(self) -> list[TraceBatch]:
        """The records normalised per trace by `tracelake.ingest`, as the store receives them."""
        from tracelake.ingest import normalize

        return normalize(self.records)

    @property
    def spans(self) -> list[Span]:
        """Every captured span, normalised, in the order the spans ended."""
        return [span for batch in self.batches for span in batch.spans]

    def traces(self) -> list[Trace]:
        """Captured spans grouped as traces (summaries are minimal: ids and spans)."""
        from tracelake.model import TraceData, TraceInfo, TraceState

        result = []
        for batch in self.batches:
            start = min(span.start_time_ns for span in batch.spans) // 1_000_000
            info = TraceInfo(
                trace_id=batch.trace_id,
                experiment_id="",
                request_time=start,
                execution_duration=None,
                state=TraceState.IN_PROGRESS,
                tags=dict(batch.fields.tags),
                metadata=dict(batch.fields.metadata),
                span_count=len(batch.spans),
            )
            result.append(Trace(info, TraceData(batch.spans)))
        return result

    def span_dicts(self, include_times: bool = False) -> list[dict[str, Any]]:
        """Spans as small dicts (name, type, parent name, status, inputs, outputs, user attributes)."""
        spans = self.spans
        names = {span.span_id: span.name for span in spans}
        result = []
        for span in spans:
            item: dict[str, Any] = {
                "name": span.name,
                "span_type": span.span_type,
                "parent": names.get(span.parent_id) if span.parent_id else None,
                "status": span.status.code.value,
                "inputs": span.inputs,
                "outputs": span.outputs,
                "attributes": {k: v for k, v in span.attributes.items() if not k.startswith(_NOISE_PREFIXES)},
            }
            if include_times:
                item["start_time_ns"] = span.start_time_ns
                item["end_time_ns"] = span.end_time_ns
            result.append(item)
        return result

    def clear(self) -> None:
        """Forget what was captured so far."""
        RUNTIME.flush(10)
        self._sink.clear()


@contextmanager
def capture_traces(**configure_kwargs: Any) -> Iterator[TraceCapture]:
    """Route all tracing to memory for the duration of the block, with deterministic ids and clock.

    Extra keyword arguments go to `tracelake.configure` (e.g. `redact=`, `sampling_ratio=`).
    """
    from tracelake import configure

    sink = InMemorySink()
    configure_kwargs.setdefault("id_generator", SequentialIds())
    configure_kwargs.setdefault("clock", FakeClock())
    configure(sink=sink, **configure_kwargs)
    try:
        yield TraceCapture(sink)
    finally:
        RUNTIME.shutdown(10)
