"""`query_metrics`: time-bucketed request count, error rate, latency percentiles, tokens and cost.

The numbers a production dashboard plots: per bucket of `bucket_seconds`, optionally one series per
tag value, metadata value, model or span name. Everything is aggregated by the database (see
`tracelake.query.metrics_sql` for the SQL and the percentile definition).
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Protocol

from tracelake.exceptions import QueryError
from tracelake.query.compile import compile_filter
from tracelake.query.fields import did_you_mean
from tracelake.query.grammar import parse_filter
from tracelake.query.metrics_sql import GroupKind, GroupSpec, MetricsQuery, build_statement
from tracelake.query.scope import experiment_scope
from tracelake.query.search import _experiment_ids

__all__ = [
    "MAX_BUCKETS",
    "MAX_POINTS",
    "METRICS",
    "MetricsPoint",
    "MetricsResult",
    "MetricsSeries",
    "MetricsStore",
    "query_metrics",
]

#: Every metric `query_metrics` computes, in the order points list them.
METRICS: tuple[str, ...] = (
    "request_count",
    "error_rate",
    "latency_p50",
    "latency_p90",
    "latency_p99",
    "input_tokens",
    "output_tokens",
    "total_tokens",
    "cost",
)

#: The most buckets one query may span: (end - start) / bucket_seconds, rounded up.
MAX_BUCKETS = 10_000

#: The most (bucket, group) points one query may return, over all series.
MAX_POINTS = 100_000

#: A long range is read in up to this many parts at once (bucket-aligned, one connection each): one
#: per core, at most 4.
PARTS = max(1, min(4, os.cpu_count() or 1))

#: The shortest range worth a part of its own: shorter ranges hold too little traffic to repay a
#: thread and a connection.
MIN_PART_MS = 6 * 3_600_000

# Year 10000: beyond it a time cannot be a real trace's, and bucket arithmetic stays within BIGINT.
_MAX_TIME_MS = 253_402_300_800_000
_GROUP_PREFIXES = {"tags": GroupKind.TAG, "tag": GroupKind.TAG, "metadata": GroupKind.METADATA}
_GROUP_NAMES = {"model": GroupKind.MODEL, "span.name": GroupKind.SPAN_NAME}


class MetricsStore(Protocol):
    """The read metrics need; every `tracelake.store.TraceStore` provides it."""

    def execute_read(self, statement: Any) -> list[Any]:
        """Run a SELECT over the schema tables and return its rows."""
        ...


@dataclass(frozen=True, slots=True)
class MetricsPoint:
    """The metrics of one bucket of one series; metrics not asked for are None.

    Attributes:
        start_time_ms: start of the bucket (ms since the epoch, a multiple of the bucket size).
        request_count: traces (spans, when grouped by model or span name) that started in the bucket.
        error_rate: the fraction of them in error (in-progress ones are not errors).
        latency_p50: median latency in ms of those that have finished; None if none has.
        latency_p90: 90th percentile latency, ms.
        latency_p99: 99th percentile latency, ms.
        input_tokens: sum of reported input tokens; None if none reported any.
        output_tokens: sum of reported output tokens.
        total_tokens: sum of reported total tokens.
        cost: sum of reported cost in US dollars; None if none reported any.
    """

    start_time_ms: int
    request_count: int | None = None
    error_rate: float | None = None
    latency_p50: float | None = None
    latency_p90: float | None = None
    latency_p99: float | None = None
    input_tokens: int | None = None
    output_tokens: int | None = None
    total_tokens: int | None = None
    cost: float | None = None

    def to_dict(self, metrics: Sequence[str] = METRICS) -> dict[str, Any]:
        """Return the REST form: `start_time_ms` and the given metrics."""
        values: dict[str, Any] = {"start_time_ms": self.start_time_ms}
        values.update({name: getattr(self, name) for name in metrics})
        return values


@dataclass(frozen=True, slots=True)
class MetricsSeries:
    """The points of one group, oldest bucket first; buckets without traces are left out.

    Attributes:
        group: the tag value, metadata value, model or span name; None for the ungrouped series
            and for traces without the grouped tag or metadata key.
        points: one per non-empty bucket.
    """

    group: str | None
    points: list[MetricsPoint] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class MetricsResult:
    """What `query_metrics` returns.

    Attributes:
        bucket_seconds: the bucket size asked for.
        metrics: the metrics asked for, in `METRICS` order.
        series: one per group, largest total `request_count` first (ties by group, None last).
    """

    bucket_seconds: int
    metrics: tuple[str, ...]
    series: list[MetricsSeries] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """Return the REST form (`POST /api/v1/metrics`): points carry only the metrics asked for."""
        return {
            "bucket_seconds": self.bucket_seconds,
            "series": [
                {"group": series.group, "points": [point.to_dict(self.metrics) for point in series.points]}
                for series in self.series
            ],
        }


def query_metrics(
    store: MetricsStore,
    experiment_ids: Sequence[str] | str | None,
    start_time_ms: int,
    end_time_ms: int,
    bucket_seconds: int,
    metrics: Sequence[str] | str,
    filter_string: str | None = None,
    group_by: str | None = None,
) -> MetricsResult:
    """Aggregate the traces of a time range into buckets, per group.

    Args:
        store: where the traces are: any `TraceStore`.
        experiment_ids: experiments to include; None includes every active experiment.
        start_time_ms: start of the range, inclusive (ms since the epoch; traces by start time).
        end_time_ms: end of the range, exclusive.
        bucket_seconds: bucket size. Buckets are aligned to the epoch (an hourly bucket starts on
            the hour), so the first and last may be partly outside the range.
        metrics: names from `METRICS`: request_count, error_rate, latency_p50/p90/p99, input_tokens,
            output_tokens, total_tokens, cost.
        filter_string: which traces count, in the `parse_filter` grammar; None counts all.
        group_by: None for one series; ``tags.<key>`` or ``metadata.<key>`` for one per value
            (traces without the key form the series whose group is None); ``model`` for one per
            model of the LLM spans, ``span.name`` for one per span name — these two count the
            spans of the matching traces rather than the traces.

    Returns:
        The series. Latencies are nearest-rank percentiles in ms over the finished traces (spans);
        in-progress ones count in `request_count` but not in latency or errors.

    Raises:
        QueryError: an unknown metric or group_by, a malformed filter or experiment id, a range
            that ends before it starts, more than `MAX_BUCKETS` buckets, or more than `MAX_POINTS`
            points in the answer.
    """
    wanted = _check_metrics(metrics)
    group = _parse_group_by(group_by)
    bucket_ms = _check_range(start_time_ms, end_time_ms, bucket_seconds)
    ids = _experiment_ids(experiment_ids)
    where = compile_filter(parse_filter(filter_string))
    if ids is not None and not ids:
        return MetricsResult(bucket_seconds, wanted)
    queries = [
        MetricsQuery(
            scope=experiment_scope(ids),
            where=where,
            start_time_ms=start,
            end_time_ms=end,
            bucket_ms=bucket_ms,
            metrics=wanted,
            group=group,
            limit=MAX_POINTS + 1,
        )
        for start, end in part_ranges(start_time_ms, end_time_ms, bucket_ms, _parts(end_time_ms - start_time_ms))
    ]
    rows = _read_parts(store, queries)
    if len(rows) > MAX_POINTS:
        raise QueryError(
            f"the answer would have more than {MAX_POINTS:,} points: use larger buckets, a shorter range,"
            " a narrower filter or a group_by with fewer values"
        )
    return MetricsResult(bucket_seconds, wanted, _series(rows, wanted, grouped=group is not None))


def part_ranges(start_time_ms: int, end_time_ms: int, bucket_ms: int, parts: int) -> list[tuple[int, int]]:
    """Cut [start, end) into at most `parts` consecutive ranges, at bucket boundaries.

    No bucket is split: each (bucket, group) point is computed whole by one part, so the parts' rows
    are simply concatenated.
    """
    first = start_time_ms // bucket_ms
    buckets = (end_time_ms - 1) // bucket_ms - first + 1
    parts = max(1, min(parts, buckets))
    inner = [(first + buckets * index // parts) * bucket_ms for index in range(1, parts)]
    bounds = [start_time_ms, *inner, end_time_ms]
    return list(itertools.pairwise(bounds))


def _parts(range_ms: int) -> int:
    return max(1, min(PARTS, range_ms // MIN_PART_MS))


def _read_parts(store: MetricsStore, queries: Sequence[MetricsQuery]) -> list[Any]:
    if len(queries) == 1:
        return list(store.execute_read(build_statement(queries[0])))
    # The database sorts every entity of a range by (bucket, group, latency): the one cost that grows
    # with the traffic. Parts on separate connections sort at once, one per core (SQLite and the
    # drivers release the GIL while a statement runs).
    with ThreadPoolExecutor(max_workers=len(queries), thread_name_prefix="tracelake-metrics") as pool:
        answers = list(pool.map(lambda query: store.execute_read(build_statement(query)), queries))
    return [row for answer in answers for row in answer]


def _check_metrics(metrics: Sequence[str] | str) -> tuple[str, ...]:
    names = [metrics] if isinstance(metrics, str) else list(metrics)
    if not names:
        raise QueryError(f"no metrics asked for: name some of {', '.join(METRICS)}")
    for name in names:
        if name not in METRICS:
            hint = did_you_mean(str(name), METRICS)
            raise QueryError(f"unknown metric {name!r}{hint}; metrics are {', '.join(METRICS)}")
    return tuple(name for name in METRICS if name in names)


def _parse_group_by(group_by: str | None) -> GroupSpec | None:
    if group_by is None or not group_by.strip():
        return None
    text = group_by.strip()
    if text.lower() in _GROUP_NAMES:
        return GroupSpec(_GROUP_NAMES[text.lower()])
    prefix, dot, key = text.partition(".")
    kind = _GROUP_PREFIXES.get(prefix.lower())
    if kind is not None and dot:
        # Backquotes are how the filter grammar spells keys with dots or spaces; accept them here too.
        if len(key) >= 2 and key.startswith("`") and key.endswith("`"):
            key = key[1:-1]
        if key:
            return GroupSpec(kind, key)
    raise QueryError(f"invalid group_by {group_by!r}: use tags.<key>, metadata.<key>, model or span.name")


def _check_time(name: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise QueryError(f"{name} must be an integer (ms since the epoch), not {type(value).__name__}")
    if not 0 <= value <= _MAX_TIME_MS:
        raise QueryError(f"{name} must be between 0 and {_MAX_TIME_MS} (ms since the epoch), not {value}")
    return value


def _check_range(start_time_ms: int, end_time_ms: int, bucket_seconds: int) -> int:
    """Validate the range and bucket size; return the bucket size in ms."""
    start = _check_time("start_time_ms", start_time_ms)
    end = _check_time("end_time_ms", end_time_ms)
    if end <= start:
        raise QueryError(f"end_time_ms ({end}) must be after start_time_ms ({start})")
    if isinstance(bucket_seconds, bool) or not isinstance(bucket_seconds, int):
        raise QueryError(f"bucket_seconds must be an integer number of seconds, not {type(bucket_seconds).__name__}")
    if not 1 <= bucket_seconds <= _MAX_TIME_MS // 1000:
        raise QueryError(f"bucket_seconds must be between 1 and {_MAX_TIME_MS // 1000}, not {bucket_seconds}")
    bucket_ms = bucket_seconds * 1000
    buckets = (end - 1) // bucket_ms - start // bucket_ms + 1
    if buckets > MAX_BUCKETS:
        smallest = -(-(end - start) // (MAX_BUCKETS * 1000))  # a lower bound, rounded up
        raise QueryError(
            f"{buckets:,} buckets of {bucket_seconds} s in the range: at most {MAX_BUCKETS:,} are allowed"
            f" (use bucket_seconds of at least about {smallest} or a shorter range)"
        )
    return bucket_ms


def _series(rows: Sequence[Any], metrics: tuple[str, ...], *, grouped: bool) -> list[MetricsSeries]:
    by_group: dict[str | None, list[MetricsPoint]] = {}
    totals: dict[str | None, int] = {}
    for row in rows:
        values = row._mapping
        group = None if not grouped or values["grp"] is None else str(values["grp"])
        measured: dict[str, Any] = {name: _value(name, values[name]) for name in metrics}
        point = MetricsPoint(int(values["bucket"]), **measured)
        by_group.setdefault(group, []).append(point)
        totals[group] = totals.get(group, 0) + int(values["request_count"])
    order = sorted(by_group, key=lambda group: (-totals[group], group is None, group or ""))
    return [MetricsSeries(group, sorted(by_group[group], key=lambda point: point.start_time_ms)) for group in order]


def _value(name: str, value: Any) -> int | float | None:
    if value is None:
        return None
    if name in ("request_count", "input_tokens", "output_tokens", "total_tokens"):
        return int(value)
    return float(value)
