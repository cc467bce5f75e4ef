"""tracelake: tracing for GenAI agents in production.

The SDK face: instrument with `@tracelake.trace` and `tracelake.start_span`, annotate with
`update_current_trace`, read back with `search_traces` and `get_trace`. Importing this module loads
only OpenTelemetry's API and tracelake's SDK; the store, query, server and UI stacks load when first used.
"""

from __future__ import annotations

import typing as _typing

from tracelake._api import (
    PagedList,
    delete_traces,
    export_stats,
    flush,
    get_experiment_by_name,
    get_trace,
    search_traces,
    shutdown,
)
from tracelake._autolog import autolog
from tracelake._cost import recompute_costs, set_model_price
from tracelake._feedback import delete_assessment, get_assessments, log_expectation, log_feedback, update_assessment
from tracelake._setup import configure, set_experiment
from tracelake.exceptions import ConfigError, NotFoundError, QueryError, StoreError, TracelakeError
from tracelake.model import Span, SpanType, Trace, TraceInfo, TraceState
from tracelake.tracing import (
    LiveSpan,
    NoOpSpan,
    continue_trace,
    get_current_span,
    get_current_trace_id,
    get_tracing_headers,
    set_llm_usage,
    start_span,
    trace,
    update_current_trace,
)
from tracelake.version import __version__

__all__ = [
    "ConfigError",
    "LiveSpan",
    "NoOpSpan",
    "NotFoundError",
    "PagedList",
    "QueryError",
    "Span",
    "SpanType",
    "StoreError",
    "Trace",
    "TraceInfo",
    "TraceState",
    "TracelakeError",
    "__version__",
    "autolog",
    "configure",
    "continue_trace",
    "delete_assessment",
    "delete_traces",
    "export_stats",
    "flush",
    "get_assessments",
    "get_current_span",
    "get_current_trace_id",
    "get_experiment_by_name",
    "get_trace",
    "get_tracing_headers",
    "log_expectation",
    "log_feedback",
    "recompute_costs",
    "search_traces",
    "set_experiment",
    "set_llm_usage",
    "set_model_price",
    "shutdown",
    "start_span",
    "trace",
    "update_assessment",
    "update_current_trace",
]


def __getattr__(name: str) -> _typing.Any:
    # `tracelake.agents` (pydantic, the agent registry) loads on first use, so `import tracelake` stays light.
    if name == "agents":
        import importlib

        return importlib.import_module("tracelake.agents")
    raise AttributeError(f"module 'tracelake' has no attribute {name!r}")
