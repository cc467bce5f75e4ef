"""The write path: normalise span records and hand the batches to whatever stores them.

`ingest` must not import `tracelake.store`; the store satisfies `BatchSink` structurally.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, runtime_checkable

from tracelake.ingest.normalize import normalize
from tracelake.model import SpanRecord, TraceBatch, WriteResult

__all__ = ["BatchSink", "write_spans"]


@runtime_checkable
class BatchSink(Protocol):
    """Where normalised batches go: `tracelake.store`'s TraceStore implements it.

    Writes must be idempotent by (trace id, span id): a batch written twice stores once.
    """

    def write_batches(self, experiment_id: str, batches: Sequence[TraceBatch]) -> WriteResult:
        """Store the batches in an experiment; may block on I/O, so call it off the app's threads."""
        ...


def write_spans(sink: BatchSink, experiment_id: str, records: Sequence[SpanRecord]) -> WriteResult:
    """Normalise span records and write them to `sink` in one call.

    Args:
        sink: The store (or any BatchSink).
        experiment_id: Experiment the traces belong to.
        records: Span records of any number of traces.

    Returns:
        What the sink reports; an empty result when there is nothing to write.
    """
    if not records:
        return WriteResult()
    return sink.write_batches(experiment_id, normalize(records))
