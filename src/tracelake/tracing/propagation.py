"""W3C trace context across services: inject `traceparent` into outgoing requests, continue it on arrival."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, MutableMapping
from contextlib import contextmanager

from opentelemetry import context as otel_context
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

_PROPAGATOR = TraceContextTextMapPropagator()


def get_tracing_headers(headers: MutableMapping[str, str] | None = None) -> MutableMapping[str, str]:
    """Return `headers` (or a new dict) with `traceparent` for the current span, to send downstream."""
    carrier: MutableMapping[str, str] = {} if headers is None else headers
    _PROPAGATOR.inject(carrier)
    return carrier


@contextmanager
def continue_trace(headers: Mapping[str, str]) -> Iterator[None]:
    """Make spans started in the block children of the caller's span named by `traceparent`.

    Header names are matched case-insensitively, so a framework's request headers can be passed as is.
    """
    lowered = {k.lower(): v for k, v in headers.items()}
    token = otel_context.attach(_PROPAGATOR.extract(lowered))
    try:
        yield
    finally:
        otel_context.detach(token)
