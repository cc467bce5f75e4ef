"""Running a scorer on traces: loading what it sees, a time limit, and writing its assessments."""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeVar

from sqlalchemy import select

from tracelake.model import (
    Assessment,
    AssessmentError,
    AssessmentKind,
    AssessmentSource,
    Trace,
    TraceData,
    TraceInfo,
)
from tracelake.monitoring.scorers.base import Scorer, ScoringContext
from tracelake.monitoring.scorers.feedback import Feedback
from tracelake.store.assessments import new_assessment_id
from tracelake.store.sql.schema import traces

__all__ = ["ScorerTimeoutError", "build_assessments", "call_with_time_limit", "in_sample", "load_contexts"]

T = TypeVar("T")

#: Traces of one session given to a session-level scorer, newest kept.
MAX_SESSION_TRACES = 100


class ScorerTimeoutError(Exception):
    """A scorer did not return within its time limit."""


def in_sample(trace_id: str, sample_rate: float) -> bool:
    """Decide, from the trace id alone, whether a trace is in a sample of `sample_rate`.

    The same trace gets the same answer in every worker and every run, and a 10% sample is a
    subset of a 20% one (so scorers at different rates judge overlapping traces).
    """
    if sample_rate >= 1.0:
        return True
    if sample_rate <= 0.0:
        return False
    digest = hashlib.sha256(trace_id.encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64 < sample_rate


def call_with_time_limit(function: Callable[[], T], limit_s: float, what: str) -> T:
    """Call `function` on a daemon thread and wait at most `limit_s` seconds for it.

    A call that overruns cannot be killed (Python threads cannot be); it is abandoned and keeps
    running in the background while the worker moves on.

    Raises:
        ScorerTimeoutError: the limit passed first.
        Exception: whatever `function` raised.
    """
    outcome: dict[str, Any] = {}
    finished = threading.Event()

    def target() -> None:
        try:
            outcome["value"] = function()
        except BaseException as exc:  # handed to the caller's thread below
            outcome["error"] = exc
        finally:
            finished.set()

    threading.Thread(target=target, name=f"tracelake-scorer-{what}", daemon=True).start()
    if not finished.wait(limit_s):
        raise ScorerTimeoutError(f"scorer {what!r} did not return within {limit_s:g} s")
    if "error" in outcome:
        raise outcome["error"]
    value: T = outcome["value"]
    return value


def _expectations(store: Any, trace_id: str) -> dict[str, Any]:
    found: dict[str, Any] = {}
    for assessment in store.list_assessments(trace_id):  # oldest first: the newest wins
        if assessment.kind is AssessmentKind.EXPECTATION:
            found[assessment.name] = assessment.value
    return found


def _session(store: Any, info: TraceInfo) -> list[Trace]:
    if info.session_id is None:
        return []
    statement = (
        select(traces.c.trace_id)
        .where(traces.c.experiment_id == int(info.experiment_id), traces.c.session_id == info.session_id)
        .where(traces.c.request_time <= info.request_time)
        .order_by(traces.c.request_time.desc(), traces.c.trace_id.desc())
        .limit(MAX_SESSION_TRACES)
    )
    ids = [row.trace_id for row in store.execute_read(statement)][::-1]
    infos = {item.trace_id: item for item in store.get_trace_infos(ids)}
    spans = store.get_spans_of(ids)
    return [Trace(infos[i], TraceData(spans.get(i, []))) for i in ids if i in infos]


def load_contexts(store: Any, scorer: Scorer, trace_ids: Sequence[str]) -> dict[str, ScoringContext]:
    """Load what `scorer` sees of each trace; a trace deleted meanwhile is simply absent."""
    if not trace_ids:
        return {}
    infos = {info.trace_id: info for info in store.get_trace_infos(list(trace_ids))}
    spans = store.get_spans_of(list(infos))
    contexts: dict[str, ScoringContext] = {}
    for trace_id, info in infos.items():
        trace = Trace(info, TraceData(spans.get(trace_id, [])))
        contexts[trace_id] = ScoringContext(
            trace=trace,
            expectations=_expectations(store, trace_id) if scorer.needs_expectations else {},
            session=_session(store, info) if scorer.session_level else (),
        )
    return contexts


def build_assessments(
    trace: TraceInfo,
    scorer: Scorer,
    feedbacks: Sequence[Feedback],
    metadata: Mapping[str, str],
    now_ms: int | None = None,
) -> list[Assessment]:
    """Turn a scorer's Feedbacks into assessments of `trace`, stamped with the scorer's identity."""
    now = int(time.time() * 1000) if now_ms is None else now_ms
    built: list[Assessment] = []
    for feedback in feedbacks:
        error = None if feedback.error is None else AssessmentError(feedback.error_code, feedback.error[:4000])
        built.append(
            Assessment(
                assessment_id=new_assessment_id(),
                trace_id=trace.trace_id,
                experiment_id=trace.experiment_id,
                name=feedback.name or scorer.name,
                kind=AssessmentKind.FEEDBACK,
                value=None if error is not None else feedback.value,
                source=AssessmentSource(scorer.source_type, scorer.name),
                create_time_ms=now,
                last_update_time_ms=now,
                rationale=feedback.rationale,
                metadata={**dict(feedback.metadata), **metadata},
                error=error,
            )
        )
    return built
