"""Bring spans of other OpenTelemetry instrumentations (OpenInference, HTTP clients, …) into tracelake.

tracelake never replaces a tracer provider the application set up. Either add
`span_processor()` to your own provider, or call `install_tracer_provider()` to have tracelake
set one up when the application has none.
"""

from __future__ import annotations

from typing import Any

from opentelemetry import trace as otel_trace
from opentelemetry.sdk.trace import ReadableSpan, SpanProcessor, TracerProvider

from tracelake.tracing._errors import log_once, logger
from tracelake.tracing._runtime import RUNTIME


class TracelakeSpanProcessor(SpanProcessor):
    """An OpenTelemetry span processor that sends finished spans through tracelake's exporter."""

    def on_start(self, span: Any, parent_context: Any = None) -> None:
        pass

    def on_end(self, span: ReadableSpan) -> None:
        if not span.context.trace_flags.sampled or not RUNTIME.enabled:
            return
        if RUNTIME.exporter is None:
            RUNTIME.ensure_configured()
        RUNTIME.on_end(span)

    def shutdown(self) -> None:
        pass

    def force_flush(self, timeout_millis: int = 30_000) -> bool:
        return RUNTIME.flush(timeout_millis / 1000)


def span_processor() -> TracelakeSpanProcessor:
    """Return a processor to add to your own `TracerProvider` (`provider.add_span_processor(...)`)."""
    return TracelakeSpanProcessor()


def install_tracer_provider() -> TracerProvider | None:
    """Set a global OpenTelemetry TracerProvider that exports to tracelake, if the app has none.

    Returns:
        The provider tracelake installed, or None when the application already set its own (then
        add `span_processor()` to it; tracelake does not touch it).
    """
    current = otel_trace.get_tracer_provider()
    if isinstance(current, TracerProvider):
        log_once(
            "own-provider",
            "tracelake: the application has its own TracerProvider; add tracelake.tracing.otel.span_processor() "
            "to it to send its spans to tracelake",
        )
        return None
    if not isinstance(current, otel_trace.ProxyTracerProvider):
        logger.info("tracelake: a non-SDK tracer provider is set (%s); leaving it", type(current).__name__)
        return None
    provider = TracerProvider()
    provider.add_span_processor(TracelakeSpanProcessor())
    otel_trace.set_tracer_provider(provider)
    return provider
