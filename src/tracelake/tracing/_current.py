"""Reading and annotating what is being traced right now: current span, trace updates, LLM usage."""

from __future__ import annotations

from typing import Any

import orjson
from opentelemetry import trace as otel_trace

from tracelake.model import SpanAttributes, TraceMetadataKey
from tracelake.tracing._errors import log_once
from tracelake.tracing._span import LiveSpan


def get_current_span() -> LiveSpan | None:
    """Return the tracelake span that is current in this thread or task, or None."""
    span = otel_trace.get_current_span()
    return span if type(span) is LiveSpan else None


def get_current_trace_id() -> str | None:
    """Return the 32-hex id of the current trace (also when the current span is another tracer's)."""
    context = otel_trace.get_current_span().get_span_context()
    return f"{context.trace_id:032x}" if context.is_valid else None


def _strings(name: str, values: dict[str, Any] | None) -> dict[str, str]:
    if not values:
        return {}
    if not isinstance(values, dict):
        log_once(f"update-{name}", "tracelake: update_current_trace(%s=...) needs a dict; ignored", name)
        return {}
    return {str(k): v if isinstance(v, str) else orjson.dumps(v, default=str).decode() for k, v in values.items()}


def update_current_trace(
    tags: dict[str, Any] | None = None,
    metadata: dict[str, Any] | None = None,
    *,
    session_id: str | None = None,
    user_id: str | None = None,
    client_request_id: str | None = None,
    environment: str | None = None,
    request_preview: str | None = None,
    response_preview: str | None = None,
) -> None:
    """Attach tags, metadata and identity (session, user, client request id) to the current trace.

    Values are kept in memory and sent with the trace's root span, so this costs no I/O. Non-string
    tag and metadata values are stored as JSON text. Outside a trace this does nothing (and says so
    once in the log): tracing never raises into the application.
    """
    span = get_current_span()
    if span is None:
        log_once("update-no-trace", "tracelake: update_current_trace() called outside a tracelake span; ignored")
        return
    try:
        local = span._local_trace
        new_tags = _strings("tags", tags)
        if new_tags:
            local.tags = {**(local.tags or {}), **new_tags}
        new_metadata = _strings("metadata", metadata)
        for key, value in (
            (TraceMetadataKey.SESSION, session_id),
            (TraceMetadataKey.USER, user_id),
            (TraceMetadataKey.CLIENT_REQUEST_ID, client_request_id),
            (TraceMetadataKey.ENVIRONMENT, environment),
        ):
            if value is not None:
                new_metadata[key] = str(value)
        if new_metadata:
            local.metadata = {**(local.metadata or {}), **new_metadata}
        previews = {}
        if request_preview is not None:
            previews[SpanAttributes.TRACE_REQUEST_PREVIEW] = str(request_preview)
        if response_preview is not None:
            previews[SpanAttributes.TRACE_RESPONSE_PREVIEW] = str(response_preview)
        if previews:
            local.previews = {**(local.previews or {}), **previews}
    except Exception:
        log_once("update-trace", "tracelake: update_current_trace failed", exc_info=True)


def set_llm_usage(
    model: str | None = None,
    provider: str | None = None,
    *,
    input_tokens: int | None = None,
    output_tokens: int | None = None,
    total_tokens: int | None = None,
    cached_input_tokens: int | None = None,
    reasoning_tokens: int | None = None,
    cost_usd: float | None = None,
) -> None:
    """Record the model and token usage of the LLM call in the current span.

    Ingest computes the cost from the model's price when `cost_usd` is not given.
    """
    span = get_current_span()
    if span is None:
        log_once("usage-no-span", "tracelake: set_llm_usage() called outside a tracelake span; ignored")
        return
    if model is not None:
        span.set_attribute(SpanAttributes.MODEL, str(model))
    if provider is not None:
        span.set_attribute(SpanAttributes.PROVIDER, str(provider))
    usage = {
        key: int(value)
        for key, value in (
            ("input_tokens", input_tokens),
            ("output_tokens", output_tokens),
            ("total_tokens", total_tokens),
            ("cached_input_tokens", cached_input_tokens),
            ("reasoning_tokens", reasoning_tokens),
        )
        if value is not None
    }
    if usage:
        span.set_attribute(SpanAttributes.TOKEN_USAGE, orjson.dumps(usage).decode())
    if cost_usd is not None:
        span.set_attribute(SpanAttributes.COST, orjson.dumps({"total_cost": float(cost_usd)}).decode())
