"""LiveSpan: tracelake's lean implementation of the OpenTelemetry span API, and its no-op twin.

A LiveSpan costs a few attribute writes on the caller's thread: inputs and outputs are kept as
references and serialised later on the export thread. Because it implements the OpenTelemetry
`Span` interface and sits in the OpenTelemetry context, spans of any OpenTelemetry instrumentation
started inside it take it as their parent, and it takes theirs.
"""

from __future__ import annotations

import traceback
import weakref
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from opentelemetry import trace as otel_trace
from opentelemetry.trace import SpanContext, TraceFlags
from opentelemetry.trace.status import Status
from opentelemetry.trace.status import StatusCode as OtelStatusCode
from opentelemetry.util import types as otel_types

from tracelake.model import EXCEPTION_EVENT, EXCEPTION_MESSAGE, EXCEPTION_STACKTRACE, EXCEPTION_TYPE, StatusCode

if TYPE_CHECKING:
    from tracelake.tracing._runtime import Runtime

_SAMPLED = TraceFlags(TraceFlags.SAMPLED)
_UNSET = object()


def _no_root() -> None:
    return None


class LocalTrace:
    """What this process knows about a trace beyond its spans: tags, metadata, destination.

    Shared by every span of the trace started in this process; exported on the local root span.
    """

    __slots__ = ("_root", "experiment", "metadata", "previews", "tags")

    def __init__(self, experiment: object) -> None:
        self.experiment = experiment
        self.tags: dict[str, str] | None = None
        self.metadata: dict[str, str] | None = None
        self.previews: dict[str, str] | None = None
        self._root: Callable[[], LiveSpan | None] = _no_root

    @property
    def root(self) -> LiveSpan | None:
        """The trace's first span in this process (None once it is gone)."""
        return self._root()

    @root.setter
    def root(self, span: LiveSpan) -> None:
        # Held weakly: the root span holds this object, and a strong reference back would make each
        # trace a reference cycle that only the garbage collector frees, with its inputs and outputs.
        self._root = weakref.ref(span)


class LiveSpan(otel_trace.Span):
    """A span being recorded. Returned by `start_span` and `get_current_span`."""

    # Fields every span sets live in slots; the rest are class-level defaults, overridden in the
    # instance's __dict__ only when used (the OpenTelemetry base class has no __slots__). Creating a
    # span is the hot path: fewer stores and no per-span empty containers.
    __slots__ = (
        "_end_ns",
        "_local_trace",
        "_name",
        "_parent_id",
        "_runtime",
        "_span_id",
        "_span_type",
        "_start_ns",
        "_status_code",
        "_trace_id",
    )

    _attributes: dict[str, Any] | None = None
    _events: list[tuple[str, int, Mapping[str, Any]]] | None = None
    _inputs: Any = _UNSET
    _outputs: Any = _UNSET
    # A decorated call's signature; with `_args`/`_kwargs` bound to names on the export thread.
    _signature: Any = None
    _args: tuple[Any, ...] = ()
    _kwargs: dict[str, Any] | None = None
    _status_message = ""
    _context: SpanContext | None = None

    def __init__(
        self,
        runtime: Runtime,
        name: str,
        span_type: str,
        trace_id: int,
        span_id: int,
        parent_id: int,
        local_trace: LocalTrace,
        start_ns: int,
    ) -> None:
        self._runtime = runtime
        self._name = name
        self._span_type = span_type
        self._trace_id = trace_id
        self._span_id = span_id
        self._parent_id = parent_id
        self._local_trace = local_trace
        self._start_ns = start_ns
        self._end_ns: int | None = None
        self._status_code = StatusCode.UNSET

    # tracelake's own surface ---------------------------------------------------------------------
    @property
    def trace_id(self) -> str:
        """The 32-hex W3C trace id."""
        return f"{self._trace_id:032x}"

    @property
    def span_id(self) -> str:
        """The 16-hex span id."""
        return f"{self._span_id:016x}"

    @property
    def parent_id(self) -> str | None:
        return f"{self._parent_id:016x}" if self._parent_id else None

    @property
    def name(self) -> str:
        return self._name

    @property
    def span_type(self) -> str:
        return self._span_type

    def set_inputs(self, inputs: Any) -> None:
        """Record the span's inputs (any object; serialised safely off the caller's thread)."""
        self._inputs = inputs

    def set_outputs(self, outputs: Any) -> None:
        """Record the span's outputs; a value set here wins over a decorated function's return value."""
        self._outputs = outputs

    def set_span_type(self, span_type: str) -> None:
        self._span_type = str(span_type)

    # OpenTelemetry Span API ----------------------------------------------------------------------
    def get_span_context(self) -> SpanContext:
        if self._context is None:
            self._context = SpanContext(self._trace_id, self._span_id, is_remote=False, trace_flags=_SAMPLED)
        return self._context

    def set_attribute(self, key: str, value: Any) -> None:
        if self._attributes is None:
            self._attributes = {}
        self._attributes[key] = value

    def set_attributes(self, attributes: Mapping[str, Any]) -> None:
        if self._attributes is None:
            self._attributes = {}
        self._attributes.update(attributes)

    def add_event(self, name: str, attributes: otel_types.Attributes = None, timestamp: int | None = None) -> None:
        if self._events is None:
            self._events = []
        when = timestamp if timestamp is not None else self._runtime.clock()
        self._events.append((name, when, dict(attributes or {})))

    def add_link(self, context: SpanContext, attributes: otel_types.Attributes = None) -> None:
        self.set_attribute(f"tracelake.link.{context.trace_id:032x}.{context.span_id:016x}", True)

    def update_name(self, name: str) -> None:
        self._name = name

    def is_recording(self) -> bool:
        return self._end_ns is None

    def set_status(self, status: Status | OtelStatusCode | StatusCode | str, description: str | None = None) -> None:
        """Set OK or ERROR (an OpenTelemetry Status/StatusCode or the strings "OK"/"ERROR")."""
        if isinstance(status, Status):
            code_name, message = status.status_code.name, status.description or ""
        elif isinstance(status, OtelStatusCode):
            code_name, message = status.name, ""
        else:
            code_name, message = str(status).upper(), ""
        self._status_code = StatusCode(code_name)
        self._status_message = description or message

    def record_exception(
        self,
        exception: BaseException,
        attributes: otel_types.Attributes = None,
        timestamp: int | None = None,
        escaped: bool = False,
    ) -> None:
        """Add an OpenTelemetry `exception` event (type, message, stack) to the span."""
        stack = "".join(traceback.format_exception(type(exception), exception, exception.__traceback__))
        event_attributes: dict[str, Any] = {
            EXCEPTION_TYPE: _qualified_name(type(exception)),
            EXCEPTION_MESSAGE: _safe_str(exception),
            EXCEPTION_STACKTRACE: stack,
        }
        if attributes:
            event_attributes.update(attributes)
        self.add_event(EXCEPTION_EVENT, event_attributes, timestamp)

    def end(self, end_time: int | None = None) -> None:
        """Finish the span and hand it to the exporter; later calls are ignored."""
        if self._end_ns is not None:
            return
        runtime = self._runtime
        self._end_ns = end_time if end_time is not None else runtime.clock()
        runtime.on_end(self)

    # Used by the decorator and context manager ---------------------------------------------------
    def _fail(self, exc: BaseException) -> None:
        self.record_exception(exc, escaped=True)
        self._status_code = StatusCode.ERROR
        self._status_message = f"{type(exc).__name__}: {_safe_str(exc)}"

    def __repr__(self) -> str:
        return f"LiveSpan(name={self._name!r}, trace_id={self.trace_id}, span_id={self.span_id})"


class NoOpSpan(otel_trace.NonRecordingSpan):
    """Same interface as LiveSpan, records nothing: tracing off, sampled out, or an internal error."""

    def __init__(self, context: SpanContext | None = None) -> None:
        super().__init__(context or otel_trace.INVALID_SPAN_CONTEXT)

    @property
    def trace_id(self) -> str | None:
        ctx = self.get_span_context()
        return f"{ctx.trace_id:032x}" if ctx.is_valid else None

    @property
    def span_id(self) -> str | None:
        ctx = self.get_span_context()
        return f"{ctx.span_id:016x}" if ctx.is_valid else None

    @property
    def parent_id(self) -> str | None:
        return None

    @property
    def name(self) -> str:
        return ""

    @property
    def span_type(self) -> str:
        return "UNKNOWN"

    def set_inputs(self, inputs: Any) -> None:
        pass

    def set_outputs(self, outputs: Any) -> None:
        pass

    def set_span_type(self, span_type: str) -> None:
        pass

    def set_status(self, status: Any, description: str | None = None) -> None:
        pass

    def _fail(self, exc: BaseException) -> None:
        pass


def _qualified_name(cls: type) -> str:
    module = cls.__module__
    return cls.__qualname__ if module in ("builtins", "__main__") else f"{module}.{cls.__qualname__}"


def _safe_str(value: object) -> str:
    try:
        return str(value)
    except Exception:
        return f"<unprintable {type(value).__name__}>"
