"""The process-wide tracing runtime: settings in force, id and clock sources, and the exporter.

One instance (`RUNTIME`) exists per process. Its fields are read on the hot path, so they are plain
attributes, replaced wholesale by `configure()`.
"""

from __future__ import annotations

import atexit
import threading
from collections.abc import Callable, Mapping
from typing import Any

from opentelemetry import trace as otel_trace
from opentelemetry.context import Context
from opentelemetry.trace import SpanContext, TraceFlags

from tracelake.model import SpanRecord
from tracelake.tracing._ids import Clock, IdGenerator, RandomIds, wall_clock_ns
from tracelake.tracing._span import LiveSpan, LocalTrace, NoOpSpan
from tracelake.tracing.export._batch import BatchExporter
from tracelake.tracing.export._convert import live_span_to_record, otel_span_to_record
from tracelake.tracing.export._sink import ExperimentRef, SpanSink

_FULL_SAMPLE = 1 << 64
_LOW_64 = _FULL_SAMPLE - 1
_NOT_SAMPLED = TraceFlags(TraceFlags.DEFAULT)
_get_current_span = otel_trace.get_current_span

#: Called once, lazily, to configure from the environment when the app never called configure().
AutoConfigure = Callable[[], None]


class Runtime:
    """Mutable process state behind the SDK functions."""

    def __init__(self) -> None:
        self.enabled = True
        self.exporter: BatchExporter | None = None
        self.ids: IdGenerator = RandomIds()
        # Bound methods cached as attributes: one call instead of two on the hot path.
        self.new_span_id: Callable[[], int] = self.ids.span_id
        self.new_trace_id: Callable[[], int] = self.ids.trace_id
        self.clock: Clock = wall_clock_ns
        self.sample_threshold = _FULL_SAMPLE
        self.experiment = ExperimentRef()
        self.environment: str | None = None
        self.max_payload_bytes = 1_000_000
        self.resource: Mapping[str, Any] = {}
        self.auto_configure: AutoConfigure | None = None
        self.lock = threading.RLock()
        self._atexit_registered = False

    # Hot path ------------------------------------------------------------------------------------
    def start(self, name: str, span_type: str, context: Context | None = None) -> LiveSpan | NoOpSpan:
        """Create a span under `context` (default: the current one); the caller makes it current."""
        if self.exporter is None:
            self.ensure_configured()
            if not self.enabled:
                return NoOpSpan()
        parent = _get_current_span(context)
        if type(parent) is LiveSpan:
            return LiveSpan(
                self,
                name,
                span_type,
                parent._trace_id,
                self.new_span_id(),
                parent._span_id,
                parent._local_trace,
                self.clock(),
            )
        parent_context = parent.get_span_context()
        if parent_context.is_valid:
            # Continue a trace started by another OpenTelemetry tracer or by an upstream service.
            if not parent_context.trace_flags.sampled:
                return NoOpSpan(SpanContext(parent_context.trace_id, self.new_span_id(), False, _NOT_SAMPLED))
            trace_id, parent_id = parent_context.trace_id, parent_context.span_id
        else:
            trace_id, parent_id = self.new_trace_id(), 0
            if self.sample_threshold != _FULL_SAMPLE and (trace_id & _LOW_64) >= self.sample_threshold:
                # Sampled out: children must see "not sampled" and stay unrecorded too.
                return NoOpSpan(SpanContext(trace_id, self.new_span_id(), False, _NOT_SAMPLED))
        local = LocalTrace(self.experiment)
        span = LiveSpan(self, name, span_type, trace_id, self.new_span_id(), parent_id, local, self.clock())
        local.root = span
        return span

    def on_end(self, span: Any) -> None:
        """Hand a finished span to the exporter (replaced by the exporter's own `enqueue` once installed)."""
        exporter = self.exporter
        if exporter is not None:
            exporter.enqueue(span)

    # Configuration -------------------------------------------------------------------------------
    def _drop(self, span: Any) -> None:
        """After shutdown, finished spans have nowhere to go."""

    def ensure_configured(self) -> None:
        with self.lock:
            if self.exporter is None and self.auto_configure is not None:
                self.auto_configure()

    def install(
        self,
        sink: SpanSink,
        *,
        enabled: bool,
        sampling_ratio: float,
        experiment: ExperimentRef,
        environment: str | None,
        max_payload_bytes: int,
        max_queue_size: int,
        batch_size: int,
        interval_s: float,
        redact: Callable[[SpanRecord], SpanRecord | None] | None,
        ids: IdGenerator | None = None,
        clock: Clock | None = None,
        resource: Mapping[str, Any] | None = None,
        defer_gc: bool = True,
    ) -> None:
        """Replace the settings in force; the previous exporter is flushed and stopped first."""
        with self.lock:
            previous = self.exporter
            self.exporter = None
            self.on_end = self._drop  # type: ignore[method-assign]
            if previous is not None:
                previous.shutdown()
            self.enabled = enabled
            self.sample_threshold = _FULL_SAMPLE if sampling_ratio >= 1.0 else int(sampling_ratio * _FULL_SAMPLE)
            self.experiment = experiment
            self.environment = environment
            self.max_payload_bytes = max_payload_bytes
            self.ids = ids or RandomIds()
            self.new_span_id = self.ids.span_id
            self.new_trace_id = self.ids.trace_id
            self.clock = clock or wall_clock_ns
            self.resource = dict(resource or {})
            self.exporter = BatchExporter(
                sink,
                self._convert,
                max_queue_size=max_queue_size,
                batch_size=batch_size,
                interval_s=interval_s,
                redact=redact,
                defer_gc=defer_gc,
            )
            self.on_end = self.exporter.enqueue  # type: ignore[method-assign,assignment]
            if not self._atexit_registered:
                atexit.register(self.shutdown)
                self._atexit_registered = True

    def _convert(self, item: Any) -> tuple[ExperimentRef, SpanRecord]:
        if type(item) is LiveSpan:
            record = live_span_to_record(item, self.max_payload_bytes, self.environment, self.resource)
            return item._local_trace.experiment, record  # type: ignore[return-value]
        return self.experiment, otel_span_to_record(item, self.max_payload_bytes)

    def flush(self, timeout: float | None = None) -> bool:
        exporter = self.exporter
        return True if exporter is None else exporter.flush(timeout)

    def shutdown(self, timeout: float | None = 10.0) -> bool:
        with self.lock:
            exporter, self.exporter = self.exporter, None
            self.on_end = self._drop  # type: ignore[method-assign]
        return True if exporter is None else exporter.shutdown(timeout)


RUNTIME = Runtime()
