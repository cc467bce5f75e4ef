"""Judge calls are traced too: each call becomes a one-span LLM trace in a separate experiment.

The span goes through `tracelake.ingest` like any other (so tokens and cost are computed by the
same price table) and is written straight to the store the worker already holds. The judged
trace's id rides in the judge trace's metadata, and the judge trace's id in the assessment's.
"""

from __future__ import annotations

import json
import logging
import secrets
import threading
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from tracelake.ingest import normalize
from tracelake.model import SpanAttributes, SpanRecord, SpanType, StatusCode
from tracelake.monitoring.scorers.judge_client import JudgeCall

if TYPE_CHECKING:
    from tracelake.store import TraceStore

__all__ = ["JudgeTraceRecorder", "judge_experiment_name"]

_log = logging.getLogger("tracelake.monitoring.scorers")


def judge_experiment_name(experiment_name: str, override: str | None = None) -> str:
    """Return the experiment judge calls of `experiment_name` are traced in."""
    return override or f"{experiment_name}-judges"


def _usage(usage: Mapping[str, Any]) -> dict[str, int] | None:
    try:
        prompt = int(usage.get("prompt_tokens", usage.get("input_tokens", 0)) or 0)
        completion = int(usage.get("completion_tokens", usage.get("output_tokens", 0)) or 0)
    except (TypeError, ValueError):
        return None
    if not prompt and not completion:
        return None
    return {"input_tokens": prompt, "output_tokens": completion, "total_tokens": prompt + completion}


class JudgeTraceRecorder:
    """Writes judge calls as traces into a judges experiment; thread-safe; never raises."""

    def __init__(self, store: TraceStore) -> None:
        self._store = store
        self._experiments: dict[str, str] = {}
        self._lock = threading.Lock()

    def _experiment_id(self, name: str) -> str:
        with self._lock:
            found = self._experiments.get(name)
            if found is None:
                found = self._experiments[name] = self._store.get_or_create_experiment(name).experiment_id
            return found

    def record(self, call: JudgeCall, experiment: str, scorer_name: str, scored_trace_id: str) -> tuple[str, float]:
        """Store one judge call as a trace; return (its trace id, its cost in USD, 0.0 if unpriced).

        A failure to store is logged, and the cost is still returned (budgets must not leak).
        """
        trace_id, span_id = secrets.token_hex(16), secrets.token_hex(8)
        attributes: dict[str, Any] = {
            SpanAttributes.SPAN_TYPE: SpanType.CHAT_MODEL.value,
            SpanAttributes.INPUTS: json.dumps({"model": call.model, "messages": list(call.messages)}),
            SpanAttributes.OUTPUTS: json.dumps(call.text),
            SpanAttributes.MODEL: call.model,
            SpanAttributes.TRACE_METADATA: json.dumps({"scored_trace_id": scored_trace_id, "scorer": scorer_name}),
            SpanAttributes.TRACE_TAGS: json.dumps({"tracelake.judge": scorer_name}),
        }
        usage = _usage(call.usage)
        if usage is not None:
            attributes[SpanAttributes.TOKEN_USAGE] = json.dumps(usage)
        record = SpanRecord(
            trace_id=trace_id,
            span_id=span_id,
            parent_span_id=None,
            name=f"judge:{scorer_name}",
            start_time_ns=call.start_ns,
            end_time_ns=max(call.end_ns, call.start_ns),
            status_code=StatusCode.OK,
            attributes=attributes,
        )
        batches = normalize([record])
        cost = sum(span.cost.total_cost for batch in batches for span in batch.spans if span.cost is not None)
        try:
            self._store.write_batches(self._experiment_id(experiment), batches)
        except Exception:
            _log.exception("could not store the trace of a judge call of scorer %r", scorer_name)
        return trace_id, float(cost)
