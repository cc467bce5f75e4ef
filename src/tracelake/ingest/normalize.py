"""SpanRecords → TraceBatches: the one normalisation path of embedded export and OTLP ingest.

Runs on the export thread (embedded) or a request worker (server), so it is written for the common
case of tracelake SDK spans: conventions detected once per attribute-key shape, dict lookups for the
fields, JSON decoded only where a payload is present, prices memoised. Nothing here raises on bad
input: unreadable values are dropped (counts) or kept raw (payloads).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Final

from tracelake.ingest.conventions import CONVENTIONS_ATTRIBUTE, UNSET, Extraction, extract
from tracelake.ingest.conventions.otel import resource_fields
from tracelake.ingest.previews import request_preview, response_preview, truncate_preview
from tracelake.ingest.usage import compute_cost
from tracelake.model import (
    Span,
    SpanEvent,
    SpanRecord,
    SpanStatus,
    SpanType,
    StatusCode,
    TraceBatch,
    TraceFields,
    TraceMetadataKey,
)

__all__ = ["SERVICE_NAME_METADATA_KEY", "normalize", "normalize_span"]

#: Metadata key for the resource's `service.name` (not reserved by the model; see TraceMetadataKey).
SERVICE_NAME_METADATA_KEY: Final = "service_name"

_UNKNOWN = SpanType.UNKNOWN.value


def normalize(records: Sequence[SpanRecord]) -> list[TraceBatch]:
    """Normalise span records into one batch per trace.

    Batches come in the order their trace first appears; spans keep their order within a trace. A
    span id repeated within the call keeps its first position and its last version (a re-sent span
    is the more complete one).

    Args:
        records: Spans as an SDK exported them or OTLP delivered them, any mix of traces.

    Returns:
        One `TraceBatch` per trace id, with trace-level fields gathered from its spans.
    """
    traces: dict[str, _TraceBuilder] = {}
    for record in records:
        builder = traces.get(record.trace_id)
        if builder is None:
            builder = traces[record.trace_id] = _TraceBuilder(record.trace_id)
        span, found = normalize_span(record)
        # Trace-level values are folded in now so the per-span extraction dies young (less GC work).
        builder.add(span, found, record.resource_attributes)
    return [builder.build() for builder in traces.values()]


# Statuses without a message are shared: they are immutable and nearly every span has one.
_STATUSES: Final = {code: SpanStatus(code) for code in StatusCode}


def normalize_span(record: SpanRecord) -> tuple[Span, Extraction]:
    """Build the stored span of one record, plus what its conventions said about the trace."""
    found = extract(record)
    attributes = dict(record.attributes)
    for key in found.consumed:
        attributes.pop(key, None)
    if found.conventions:
        attributes[CONVENTIONS_ATTRIBUTE] = list(found.conventions)  # a list, as read back from storage
    usage = found.usage
    cost = found.cost
    if not found.cost_explicit and usage is not None and found.model is not None:
        cost = compute_cost(usage, found.model, found.provider, record.start_time_ns)
    inputs = found.inputs
    outputs = found.outputs
    # Positional: a 15-field dataclass __init__ binds keywords at well over twice the cost, on every
    # span. The order is Span's field order (test_every_span_field_comes_from_the_record checks it).
    span = Span(
        record.trace_id,
        record.span_id,
        record.parent_span_id or None,  # parent_id
        record.name,
        found.span_type or _UNKNOWN,
        record.start_time_ns,
        record.end_time_ns,
        SpanStatus(record.status_code, record.status_message)
        if record.status_message
        else _STATUSES[record.status_code],
        None if inputs is UNSET else inputs,
        None if outputs is UNSET else outputs,
        attributes,
        # (The comprehension is a function call in itself: skipped for the many spans without events.)
        [SpanEvent(event.name, event.timestamp_ns, dict(event.attributes)) for event in record.events]
        if record.events
        else [],
        found.model,  # model_name
        usage,  # token_usage
        cost,
    )
    return span, found


class _TraceBuilder:
    """Gathers the spans of one trace and the trace-level values they carry.

    The root span speaks for the trace: its tags, metadata and preview overrides win. Other spans
    fill in, later ones overwriting earlier ones for explicit values; values a convention merely
    implies (a span's `session.id`, the resource's environment) only fill keys still missing.
    """

    __slots__ = ("implied", "metadata", "overrides", "resource", "root", "root_found", "spans", "tags", "trace_id")

    def __init__(self, trace_id: str) -> None:
        self.trace_id = trace_id
        self.spans: dict[str, Span] = {}
        self.tags: dict[str, str] = {}
        self.metadata: dict[str, str] = {}
        self.implied: dict[str, str] = {}
        self.overrides: list[str | None] = [None, None]
        self.root: Span | None = None
        self.root_found: Extraction | None = None
        self.resource: Mapping[str, Any] | None = None

    def add(self, span: Span, found: Extraction, resource: Mapping[str, Any]) -> None:
        self.spans[span.span_id] = span
        if self.resource is None and resource:
            self.resource = resource
        # A second parent-less span in one trace is malformed input; it is merged like any other.
        if span.parent_id is None and (self.root is None or self.root.span_id == span.span_id):
            self.root = span
            self.root_found = found
            return
        if found.tags:
            self.tags.update(found.tags)
        if found.metadata:
            self.metadata.update(found.metadata)
        if found.session_id is not None or found.user_id is not None:
            _add_implied(self.implied, found)
        if found.request_preview is not None and self.overrides[0] is None:
            self.overrides[0] = found.request_preview
        if found.response_preview is not None and self.overrides[1] is None:
            self.overrides[1] = found.response_preview

    def build(self) -> TraceBatch:
        tags, metadata, implied = self.tags, self.metadata, self.implied
        request, response = self.overrides
        root, found = self.root, self.root_found
        if found is not None:
            if found.tags:
                tags.update(found.tags)
            if found.metadata:
                metadata.update(found.metadata)
            root_implied: dict[str, str] = {}
            _add_implied(root_implied, found)
            implied = {**implied, **root_implied}
            request = found.request_preview or request
            response = found.response_preview or response
        for key, value in implied.items():
            metadata.setdefault(key, value)
        if self.resource is not None:
            environment, service = resource_fields(self.resource)
            if environment is not None:
                metadata.setdefault(TraceMetadataKey.ENVIRONMENT, environment)
            if service is not None:
                metadata.setdefault(SERVICE_NAME_METADATA_KEY, service)
        request = None if request is None else truncate_preview(request)
        response = None if response is None else truncate_preview(response)
        if root is not None:
            if request is None:
                request = request_preview(root.inputs)
            if response is None:
                response = response_preview(root.outputs)
        spans = list(self.spans.values())
        return TraceBatch(
            trace_id=self.trace_id,
            spans=spans,
            fields=TraceFields(
                tags=tags,
                metadata=metadata,
                client_request_id=metadata.get(TraceMetadataKey.CLIENT_REQUEST_ID),
                request_preview=request,
                response_preview=response,
            ),
            counted_span_ids=counted_span_ids(spans),
        )


def _add_implied(implied: dict[str, str], found: Extraction) -> None:
    if found.session_id is not None:
        implied.setdefault(TraceMetadataKey.SESSION, found.session_id)
    if found.user_id is not None:
        implied.setdefault(TraceMetadataKey.USER, found.user_id)


def counted_span_ids(spans: Iterable[Span]) -> frozenset[str]:
    """Return the spans whose token usage counts towards the trace's totals.

    A span with token usage counts unless an ancestor within the same batch also has token usage:
    an autologged LLM call inside a user's LLM span reports the same tokens twice.

    Args:
        spans: The spans of one trace (one batch of it).

    Returns:
        Ids of the spans to count.
    """
    by_id: dict[str, Span] = {span.span_id: span for span in spans}
    counted: set[str] = set()
    for span_id, span in by_id.items():
        if span.token_usage is None:
            continue
        parent_id = span.parent_id
        steps = 0
        # Malformed input may link parents in a cycle: stop on returning to the span itself, and
        # `steps` bounds a cycle further up.
        while parent_id is not None and steps < len(by_id):
            parent = by_id.get(parent_id)
            if parent is None or parent is span:
                counted.add(span_id)
                break
            if parent.token_usage is not None:
                break
            parent_id = parent.parent_id
            steps += 1
        else:
            counted.add(span_id)
    return frozenset(counted)
