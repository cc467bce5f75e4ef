"""TraceBatch: what `ingest` hands to a store — normalised spans of one trace plus trace-level fields.

The store merges a batch into what it already holds: spans are keyed by (trace id, span id) so a
batch written twice stores once, and the trace summary is recomputed from the merge.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from tracelake.model._span import Span


@dataclass(frozen=True, slots=True)
class TraceFields:
    """Trace-level values carried by the spans of a batch (usually by the root span)."""

    tags: dict[str, str] = field(default_factory=dict)
    metadata: dict[str, str] = field(default_factory=dict)
    client_request_id: str | None = None
    request_preview: str | None = None
    response_preview: str | None = None


@dataclass(frozen=True, slots=True)
class TraceBatch:
    """Normalised spans of one trace and the trace-level values they carried.

    `counted_span_ids` names the spans whose token usage and cost count towards the trace totals
    (an LLM span nested in another LLM span that already reports usage is not counted twice).
    """

    trace_id: str
    spans: list[Span]
    fields: TraceFields = field(default_factory=TraceFields)
    counted_span_ids: frozenset[str] = frozenset()


@dataclass(frozen=True, slots=True)
class WriteResult:
    """How many spans a write stored, and how many it had already."""

    written_spans: int = 0
    duplicate_spans: int = 0
    traces: int = 0
