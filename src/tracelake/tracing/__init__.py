"""The in-app SDK: decorator, spans, current-trace updates, export pipeline."""

from __future__ import annotations

from tracelake.tracing._current import get_current_span, get_current_trace_id, set_llm_usage, update_current_trace
from tracelake.tracing._decorator import trace
from tracelake.tracing._runtime import RUNTIME, Runtime
from tracelake.tracing._scope import SpanScope, start_span
from tracelake.tracing._span import LiveSpan, NoOpSpan
from tracelake.tracing.export._batch import BatchExporter, ExportStats
from tracelake.tracing.export._sink import ExperimentRef, InMemorySink, SpanSink
from tracelake.tracing.propagation import continue_trace, get_tracing_headers

__all__ = [
    "BatchExporter",
    "ExperimentRef",
    "ExportStats",
    "InMemorySink",
    "LiveSpan",
    "NoOpSpan",
    "RUNTIME",
    "Runtime",
    "SpanScope",
    "SpanSink",
    "continue_trace",
    "get_current_span",
    "get_current_trace_id",
    "get_tracing_headers",
    "set_llm_usage",
    "start_span",
    "trace",
    "update_current_trace",
]
