"""Validate the batches of one `write_batches` call and merge them per trace.

One call may carry several batches of the same trace (and the same span twice); everything below
the store works on one `IncomingTrace` per trace id.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field

from tracelake.exceptions import InvalidArgumentError
from tracelake.model import Span, TraceBatch

# Trace ids name folders (`.../traces/<trace_id>/`): only characters that are safe in any path or
# object key, and no longer than the index column.
_TRACE_ID = re.compile(r"[0-9A-Za-z_-]{1,32}")
_SPAN_ID = re.compile(r"[0-9A-Za-z_-]{1,16}")


@dataclass(slots=True)
class IncomingTrace:
    """The spans and trace-level fields of one trace, merged over the batches of a call."""

    trace_id: str
    spans: dict[str, Span] = field(default_factory=dict)
    counted_span_ids: set[str] = field(default_factory=set)
    tags: dict[str, str] = field(default_factory=dict)
    metadata: dict[str, str] = field(default_factory=dict)
    client_request_id: str | None = None
    request_preview: str | None = None
    response_preview: str | None = None
    duplicates: int = 0
    """Spans that appeared more than once within the call."""


def check_trace_id(trace_id: str) -> str:
    """Return `trace_id` if it is a valid trace id, else raise `StoreError`."""
    if not isinstance(trace_id, str) or not _TRACE_ID.fullmatch(trace_id):
        raise InvalidArgumentError(
            f"invalid trace id {trace_id!r}: expected 1-32 characters among 0-9, a-z, A-Z, '_', '-'"
        )
    return trace_id


def _check_span(span: Span, trace_id: str) -> None:
    if span.trace_id != trace_id:
        raise InvalidArgumentError(
            f"span {span.span_id!r} has trace id {span.trace_id!r} but its batch is for {trace_id!r}"
        )
    for name, value in (("span id", span.span_id), ("parent span id", span.parent_id)):
        if value is not None and not _is_valid_id(value):
            raise InvalidArgumentError(f"invalid {name} {value!r} in trace {trace_id!r}: expected 1-16 characters")


def _is_valid_id(value: object) -> bool:
    return isinstance(value, str) and _SPAN_ID.fullmatch(value) is not None


def merge_batches(batches: Sequence[TraceBatch]) -> dict[str, IncomingTrace]:
    """Validate `batches` and merge them into one `IncomingTrace` per trace id (in first-seen order).

    Within a call the first version of a span wins, unless a later one is finished and it was not.
    Trace-level fields of later batches override earlier ones. Traces without spans are dropped.

    Raises:
        StoreError: a trace or span id is invalid, or a span is in the wrong trace's batch.
    """
    merged: dict[str, IncomingTrace] = {}
    is_span_id = _SPAN_ID.fullmatch
    for batch in batches:
        trace_id = check_trace_id(batch.trace_id)
        incoming = merged.get(trace_id)
        if incoming is None:
            incoming = merged[trace_id] = IncomingTrace(trace_id)
        spans = incoming.spans
        for span in batch.spans:
            span_id, parent_id = span.span_id, span.parent_id
            # The checks of `_check_span`, inlined for valid spans (it raises with the reason). A
            # parent is usually a span kept before it: those ids were checked already.
            if (
                span.trace_id != trace_id
                or type(span_id) is not str
                or not is_span_id(span_id)
                or (
                    parent_id is not None
                    and not (type(parent_id) is str and parent_id in spans)
                    and not _is_valid_id(parent_id)
                )
            ):
                _check_span(span, trace_id)
            kept = spans.get(span_id)
            if kept is None:
                spans[span_id] = span
                continue
            incoming.duplicates += 1
            if kept.end_time_ns is None and span.end_time_ns is not None:
                spans[span_id] = span
        fields = batch.fields
        incoming.counted_span_ids.update(batch.counted_span_ids)
        incoming.tags.update(fields.tags)
        incoming.metadata.update(fields.metadata)
        if fields.client_request_id is not None:
            incoming.client_request_id = fields.client_request_id
        if fields.request_preview is not None:
            incoming.request_preview = fields.request_preview
        if fields.response_preview is not None:
            incoming.response_preview = fields.response_preview
    return {trace_id: incoming for trace_id, incoming in merged.items() if incoming.spans}
