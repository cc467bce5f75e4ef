"""`start_span`: a context manager that makes a span current for the duration of a block."""

from __future__ import annotations

from contextvars import Token
from types import TracebackType
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry import trace as otel_trace
from opentelemetry.context import Context

from tracelake.model import SpanType, StatusCode
from tracelake.tracing._errors import log_once
from tracelake.tracing._runtime import RUNTIME
from tracelake.tracing._span import LiveSpan, NoOpSpan

_set_span_in_context = otel_trace.set_span_in_context
_attach = otel_context.attach
_get_current = otel_context.get_current
_detach = otel_context.detach


class SpanScope:
    """Returned by `start_span`; entering it yields the live span."""

    __slots__ = ("_attributes", "_inputs", "_name", "_span", "_span_type", "_token")

    def __init__(self, name: str, span_type: str, inputs: Any = None, attributes: dict[str, Any] | None = None) -> None:
        self._name = name
        self._span_type = span_type
        self._inputs = inputs
        self._attributes = attributes
        self._span: LiveSpan | NoOpSpan | None = None
        self._token: Token[Context] | None = None

    def __enter__(self) -> LiveSpan | NoOpSpan:
        if not RUNTIME.enabled:
            self._span = NoOpSpan()
            return self._span
        try:
            context = _get_current()
            span = RUNTIME.start(self._name, self._span_type, context)
            if self._inputs is not None:
                span.set_inputs(self._inputs)
            if self._attributes:
                span.set_attributes(self._attributes)
            self._token = _attach(_set_span_in_context(span, context))
        except Exception:
            log_once("start_span", "tracelake: could not start span %r", self._name, exc_info=True)
            span = NoOpSpan()
        self._span = span
        return span

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        span = self._span
        if type(span) is not LiveSpan:
            if self._token is not None:
                _detach(self._token)
            return
        try:
            if exc is not None:
                span._fail(exc)
            elif span._status_code is StatusCode.UNSET:
                span._status_code = StatusCode.OK
            if self._token is not None:
                _detach(self._token)
            span.end()
        except Exception:
            log_once("end_span", "tracelake: could not end span %r", self._name, exc_info=True)


def start_span(
    name: str = "span",
    span_type: SpanType | str = SpanType.UNKNOWN,
    inputs: Any = None,
    attributes: dict[str, Any] | None = None,
) -> SpanScope:
    """Start a span as a context manager; the block's exception, if any, is recorded and re-raised.

    Example:
        with tracelake.start_span("plan", span_type="CHAIN") as span:
            span.set_inputs({"question": question})
            span.set_outputs({"steps": 2})
    """
    return SpanScope(name, span_type.value if isinstance(span_type, SpanType) else str(span_type), inputs, attributes)
