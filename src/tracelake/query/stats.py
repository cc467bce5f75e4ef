"""Reads the web UI needs beyond search and metrics: experiment totals, feedback of many traces, feedback over time.

Each is one read-only SELECT over the schema tables, with every value bound as a parameter.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import BigInteger, and_, case, func, literal, select

from tracelake.exceptions import QueryError
from tracelake.model import Assessment
from tracelake.query.compile import compile_filter
from tracelake.query.grammar import parse_filter
from tracelake.query.metrics import MAX_BUCKETS, MetricsStore
from tracelake.query.scope import experiment_scope
from tracelake.query.search import _experiment_ids
from tracelake.store.sql.assessments import assessment_from_row
from tracelake.store.sql.schema import assessments, traces

__all__ = [
    "MAX_TRACES_PER_READ",
    "ExperimentStats",
    "FeedbackPoint",
    "FeedbackSeries",
    "assessments_by_trace",
    "experiment_stats",
    "feedback_over_time",
    "thumbs_down_trace_ids",
]

#: The most trace ids `assessments_by_trace` takes at once (an explorer page is far smaller).
MAX_TRACES_PER_READ = 1000


@dataclass(frozen=True, slots=True)
class ExperimentStats:
    """Totals of one experiment's traces.

    Attributes:
        experiment_id: the experiment.
        trace_count: its traces.
        error_count: those in state ERROR.
        last_trace_time_ms: start of its newest trace; None if it has none.
    """

    experiment_id: str
    trace_count: int = 0
    error_count: int = 0
    last_trace_time_ms: int | None = None

    def to_dict(self) -> dict[str, Any]:
        """Return the REST form, with `error_rate` (None without traces)."""
        rate = None if self.trace_count == 0 else self.error_count / self.trace_count
        return {
            "experiment_id": self.experiment_id,
            "trace_count": self.trace_count,
            "error_count": self.error_count,
            "error_rate": rate,
            "last_trace_time_ms": self.last_trace_time_ms,
        }


def experiment_stats(store: MetricsStore, experiment_ids: Sequence[str] | None = None) -> list[ExperimentStats]:
    """Return trace count, error count and newest trace time per experiment that has traces.

    Args:
        store: any `TraceStore`.
        experiment_ids: experiments to count; None counts every active experiment.

    Raises:
        QueryError: a malformed experiment id.
    """
    ids = _experiment_ids(experiment_ids)
    statement = (
        select(
            traces.c.experiment_id,
            func.count(),
            func.sum(case((traces.c.state == "ERROR", 1), else_=0)),
            func.max(traces.c.request_time),
        )
        .where(experiment_scope(ids))
        .group_by(traces.c.experiment_id)
        .order_by(traces.c.experiment_id)
    )
    return [
        ExperimentStats(str(row[0]), int(row[1]), int(row[2] or 0), None if row[3] is None else int(row[3]))
        for row in store.execute_read(statement)
    ]


def assessments_by_trace(store: MetricsStore, trace_ids: Sequence[str]) -> dict[str, list[Assessment]]:
    """Return the assessments of the given traces, oldest first, by trace id (traces without any are absent).

    Raises:
        QueryError: more than `MAX_TRACES_PER_READ` trace ids.
    """
    unique = list(dict.fromkeys(trace_ids))
    if len(unique) > MAX_TRACES_PER_READ:
        raise QueryError(f"at most {MAX_TRACES_PER_READ} trace ids at once, not {len(unique)}")
    if not unique:
        return {}
    statement = (
        select(assessments)
        .where(assessments.c.trace_id.in_(unique))
        .order_by(assessments.c.create_time_ms, assessments.c.assessment_id)
    )
    found: dict[str, list[Assessment]] = {}
    for row in store.execute_read(statement):
        assessment = assessment_from_row(row._mapping)
        found.setdefault(assessment.trace_id, []).append(assessment)
    return found


@dataclass(frozen=True, slots=True)
class FeedbackPoint:
    """Feedback of one name given in one bucket.

    Attributes:
        start_time_ms: start of the bucket (a multiple of the bucket size since the epoch).
        count: feedback records created in the bucket.
        numeric_count: those whose value is a bool or a number.
        mean: the mean of those values (thumbs up = 1, down = 0, so it is the share of thumbs up);
            None when no value is numeric.
    """

    start_time_ms: int
    count: int
    numeric_count: int
    mean: float | None

    def to_dict(self) -> dict[str, Any]:
        """Return the REST form."""
        return {name: getattr(self, name) for name in self.__dataclass_fields__}


@dataclass(frozen=True, slots=True)
class FeedbackSeries:
    """The points of one feedback name, oldest bucket first (buckets without feedback are left out)."""

    name: str
    points: list[FeedbackPoint] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """Return the REST form."""
        return {"name": self.name, "points": [point.to_dict() for point in self.points]}


def feedback_over_time(
    store: MetricsStore,
    experiment_ids: Sequence[str] | None,
    start_time_ms: int,
    end_time_ms: int,
    bucket_seconds: int,
    filter_string: str | None = None,
) -> list[FeedbackSeries]:
    """Count feedback (not expectations) per name and bucket of its creation time, with the mean value.

    Args:
        store: any `TraceStore`.
        experiment_ids: experiments to read; None reads every active experiment.
        start_time_ms: inclusive start of the range (feedback creation time, ms).
        end_time_ms: exclusive end.
        bucket_seconds: bucket size; buckets are aligned to the epoch, as in `query_metrics`.
        filter_string: only feedback on traces matching this filter counts.

    Returns:
        One series per feedback name, the most given first.

    Raises:
        QueryError: a bad range, bucket size (more than `MAX_BUCKETS` buckets), filter or id.
    """
    arguments = {"start_time_ms": start_time_ms, "end_time_ms": end_time_ms, "bucket_seconds": bucket_seconds}
    for name, value in arguments.items():
        if isinstance(value, bool) or not isinstance(value, int):
            raise QueryError(f"{name} must be an integer, not {value!r}")
    if end_time_ms <= start_time_ms:
        raise QueryError("end_time_ms must be after start_time_ms")
    if bucket_seconds < 1:
        raise QueryError(f"bucket_seconds must be at least 1, not {bucket_seconds}")
    bucket_ms = bucket_seconds * 1000
    if (end_time_ms - start_time_ms + bucket_ms - 1) // bucket_ms > MAX_BUCKETS:
        raise QueryError(f"the range holds more than {MAX_BUCKETS} buckets of {bucket_seconds} s")
    ids = _experiment_ids(experiment_ids)
    expression = parse_filter(filter_string)
    size = literal(bucket_ms, BigInteger())
    bucket = ((assessments.c.create_time_ms // size) * size).label("bucket")
    conditions = [
        assessments.c.kind == "feedback",
        assessments.c.create_time_ms >= start_time_ms,
        assessments.c.create_time_ms < end_time_ms,
    ]
    if ids is not None:
        conditions.append(assessments.c.experiment_id.in_(ids))
    statement = select(
        assessments.c.name,
        bucket,
        func.count(),
        func.count(assessments.c.numeric_value),
        func.avg(assessments.c.numeric_value),
    )
    if expression is not None or ids is None:
        # Only then is the trace row needed: to filter, or to leave deleted experiments out.
        statement = statement.join(traces, traces.c.trace_id == assessments.c.trace_id)
        conditions.append(compile_filter(expression))
        conditions.append(experiment_scope(ids))
    statement = statement.where(and_(*conditions)).group_by(assessments.c.name, bucket).order_by(bucket)
    series: dict[str, list[FeedbackPoint]] = {}
    for row in store.execute_read(statement):
        mean = None if row[4] is None else float(row[4])
        series.setdefault(str(row[0]), []).append(FeedbackPoint(int(row[1]), int(row[2]), int(row[3]), mean))
    ordered = sorted(series.items(), key=lambda item: (-sum(p.count for p in item[1]), item[0]))
    return [FeedbackSeries(name, points) for name, points in ordered]


def thumbs_down_trace_ids(store: MetricsStore, experiment_id: str, max_results: int = MAX_TRACES_PER_READ) -> list[str]:
    """Return the ids of the experiment's traces with a thumbs-down feedback (value `false`), newest feedback first.

    The explorer's "thumbs down" quick filter searches these ids (`trace_id IN (…)`): the filter
    grammar has no assessment fields yet.

    Raises:
        QueryError: a malformed experiment id or a `max_results` outside 1 … `MAX_TRACES_PER_READ`.
    """
    if isinstance(max_results, bool) or not isinstance(max_results, int) or not 1 <= max_results <= MAX_TRACES_PER_READ:
        raise QueryError(f"max_results must be an integer between 1 and {MAX_TRACES_PER_READ}, not {max_results!r}")
    ids = _experiment_ids([experiment_id]) or []
    newest = func.max(assessments.c.create_time_ms)
    statement = (
        select(assessments.c.trace_id)
        .where(
            assessments.c.experiment_id.in_(ids),
            assessments.c.kind == "feedback",
            assessments.c.value == "false",
        )
        .group_by(assessments.c.trace_id)
        .order_by(newest.desc(), assessments.c.trace_id)
        .limit(max_results)
    )
    return [str(row[0]) for row in store.execute_read(statement)]
