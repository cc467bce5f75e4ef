"""Price a stored span again, as ingest would price it today (for recomputing past costs)."""

from __future__ import annotations

from tracelake.ingest.conventions import extract
from tracelake.ingest.usage import compute_cost
from tracelake.model import Cost, Span, SpanRecord

__all__ = ["reprice_span"]


def reprice_span(span: Span) -> Cost | None:
    """Return the cost ingest gives `span` with today's prices (user prices, then genai-prices).

    A cost the span carried itself (set by the user with `cost_usd=` or by an instrumentor) is
    kept as it is: only computed costs follow price changes.

    Args:
        span: a stored span (its attributes still say which conventions it used and its provider).

    Returns:
        The span's new cost; None when its model is unknown, and its current cost when it has no
        token usage or model.
    """
    usage, model = span.token_usage, span.model_name
    if usage is None or model is None:
        return span.cost
    # The stored attributes are the span's own minus its inputs and outputs: the conventions read
    # from them again whether the cost was explicit and which provider served the call.
    record = SpanRecord(
        trace_id=span.trace_id,
        span_id=span.span_id,
        parent_span_id=span.parent_id,
        name=span.name,
        start_time_ns=span.start_time_ns,
        end_time_ns=span.end_time_ns,
        attributes=dict(span.attributes),
    )
    found = extract(record)
    if found.cost_explicit:
        return span.cost
    return compute_cost(usage, model, found.provider, span.start_time_ns)
