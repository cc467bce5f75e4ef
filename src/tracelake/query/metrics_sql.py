"""The SQL of `query_metrics`: one SELECT that buckets, groups and aggregates, on either database.

Rows are *entities*: traces, or the spans of the matching traces when grouping by model or span
name. A subquery gives one row per entity with its bucket, group, error flag, latency (NULL while
in progress), tokens and cost; the outer query aggregates it per (bucket, group).

Percentiles are nearest-rank, as PostgreSQL's `percentile_disc` defines them: the smallest latency
such that at least the fraction p of the latencies are at or below it — always a latency that was
observed, the value at position ceil(p * n) of the n sorted latencies. PostgreSQL computes them
with that ordered-set aggregate. SQLite has no percentile function, so there a running count over
the distinct latencies finds the same value (see `_ranked_percentiles`), and both databases return
the same numbers. Which SQL runs is decided when the statement is compiled for the connection's
dialect, so callers only need `execute_read`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    BigInteger,
    ColumnElement,
    Float,
    FromClause,
    Select,
    String,
    and_,
    case,
    cast,
    func,
    literal,
    select,
)
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.base import Executable
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.elements import ClauseElement

from tracelake.store.sql.schema import spans, trace_metadata, trace_tags, traces

__all__ = ["GroupKind", "GroupSpec", "MetricsQuery", "MetricsStatement", "build_statement"]

#: Percentile metrics and the fraction each one asks for.
PERCENTILES: Mapping[str, float] = {"latency_p50": 0.5, "latency_p90": 0.9, "latency_p99": 0.99}

_TOKEN_METRICS = ("input_tokens", "output_tokens", "total_tokens")
# Entity columns that are summed (those present: only the metrics asked for are selected).
_SUMMED = ("err", *_TOKEN_METRICS, "cost")
_NS_PER_MS = 1_000_000.0


class GroupKind:
    """What a `group_by` names (plain strings: they double as the REST spellings' prefixes)."""

    TAG = "tags"
    METADATA = "metadata"
    MODEL = "model"
    SPAN_NAME = "span.name"


@dataclass(frozen=True, slots=True)
class GroupSpec:
    """A parsed `group_by`: its kind and, for tags and metadata, the key."""

    kind: str
    key: str | None = None

    @property
    def over_spans(self) -> bool:
        """Whether the entities are spans rather than traces."""
        return self.kind in (GroupKind.MODEL, GroupKind.SPAN_NAME)


@dataclass(frozen=True, slots=True)
class MetricsQuery:
    """A validated metrics request, ready to become SQL."""

    scope: ColumnElement[bool]
    """Which experiments' traces (a condition on `traces`)."""
    where: ColumnElement[bool]
    """The compiled trace filter."""
    start_time_ms: int
    end_time_ms: int
    bucket_ms: int
    metrics: tuple[str, ...]
    group: GroupSpec | None
    limit: int
    """Row cap: at most this many (bucket, group) rows are returned."""


class MetricsStatement(Executable, ClauseElement):
    """A SELECT whose SQL depends on the dialect it is compiled for (see the module docstring)."""

    inherit_cache = False  # the portable and native selects are built per call

    def __init__(self, portable: Select[Any], postgresql: Select[Any]) -> None:
        self.portable = portable
        self.postgresql = postgresql


@compiles(MetricsStatement)
def _compile_portable(element: MetricsStatement, compiler: SQLCompiler, **kw: Any) -> str:
    return compiler.process(element.portable, **kw)


@compiles(MetricsStatement, "postgresql")
def _compile_postgresql(element: MetricsStatement, compiler: SQLCompiler, **kw: Any) -> str:
    return compiler.process(element.postgresql, **kw)


def build_statement(query: MetricsQuery) -> MetricsStatement:
    """Return the statement answering `query`: rows of `bucket`, `grp` (if grouped) and one column per metric.

    `bucket` is the bucket's start in ms since the epoch. Only (bucket, group) pairs with at least
    one entity appear.
    """
    entities = _entities(query).subquery("entities")
    keys = _keys(entities, query.group)
    wanted = [name for name in PERCENTILES if name in query.metrics]
    totals = _totals(query.metrics, func.count(), lambda name: func.sum(entities.c[name]))
    simple = select(*keys, *totals).group_by(*keys).limit(query.limit)
    if not wanted:
        return MetricsStatement(simple, simple)
    scale = _scale(query.group)
    percentiles = [
        _milliseconds(func.percentile_disc(PERCENTILES[name]).within_group(entities.c.d), scale).label(name)
        for name in wanted
    ]
    native = simple.add_columns(*percentiles)
    return MetricsStatement(_ranked_percentiles(entities, query, wanted), native)


def _ranked_percentiles(entities: FromClause, query: MetricsQuery, wanted: Sequence[str]) -> Select[Any]:
    """The statement for databases without a percentile aggregate, in three steps.

    1. Group the entities by (bucket, group, latency), summing counts, errors, tokens and cost: the
       one sort of every row, and far fewer rows out (trace latencies are whole ms, so a bucket of
       100,000 traces has a few thousand distinct ones).
    2. Give each latency the number of finished entities of its (bucket, group) at or below it (a
       running sum over the rows of step 1) and their total.
    3. Per (bucket, group), add the sums up and take for each fraction p = q / 100 the smallest
       latency whose running count reaches p of the total — the nearest-rank percentile, in exact
       integer arithmetic: ``100 * at_or_below >= q * finished``.
    """
    keys = _keys(entities, query.group)
    sums = [func.count().label("n")]
    sums += [func.sum(entities.c[name]).label(name) for name in _SUMMED if name in entities.c]
    by_latency = select(*keys, entities.c.d, *sums).group_by(*keys, entities.c.d).subquery("by_latency")

    partition = _keys(by_latency, query.group)
    finished = func.sum(case((by_latency.c.d.is_not(None), by_latency.c.n)))
    ranked = select(
        *by_latency.c,
        finished.over(partition_by=partition, order_by=by_latency.c.d, rows=(None, 0)).label("at_or_below"),
        finished.over(partition_by=partition, order_by=by_latency.c.d, rows=(None, None)).label("finished"),
    ).subquery("ranked")

    keys = _keys(ranked, query.group)
    columns = [*keys, *_totals(query.metrics, func.sum(ranked.c.n), lambda name: func.sum(ranked.c[name]))]
    scale = _scale(query.group)
    for name in wanted:
        percent = literal(round(PERCENTILES[name] * 100), BigInteger())
        reached = literal(100, BigInteger()) * ranked.c.at_or_below >= percent * ranked.c.finished
        pick = func.min(case((and_(ranked.c.d.is_not(None), reached), ranked.c.d)))
        columns.append(_milliseconds(pick, scale).label(name))
    return select(*columns).group_by(*keys).limit(query.limit)


def _entities(query: MetricsQuery) -> Select[Any]:
    """One row per trace (or span) in range: bucket, grp, err (0/1), d (latency, integer), tokens, cost.

    `d` stays in the stored unit (ms for traces, ns for spans) until the end: integers sort and
    group faster than floats, and converting once per percentile is exact.
    """
    bucket_ms = literal(query.bucket_ms, BigInteger())
    columns: list[ColumnElement[Any]] = [((traces.c.request_time // bucket_ms) * bucket_ms).label("bucket")]
    source: FromClause = traces
    conditions = [
        query.scope,
        traces.c.request_time >= literal(query.start_time_ms, BigInteger()),
        traces.c.request_time < literal(query.end_time_ms, BigInteger()),
        query.where,
    ]
    group = query.group
    if group is not None and group.over_spans:
        # An alias: the filter's own `span.*` conditions are EXISTS over `spans`, which must stay
        # uncorrelated with the spans being grouped.
        span = spans.alias("grouped_span")
        source = traces.join(span, span.c.trace_id == traces.c.trace_id)
        if group.kind == GroupKind.MODEL:
            columns.append(span.c.model_name.label("grp"))
            conditions.append(span.c.model_name.is_not(None))
        else:
            columns.append(span.c.name.label("grp"))
        status, latency, usage = span.c.status, span.c.duration_ns, span.c
    else:
        if group is not None:
            table = (trace_tags if group.kind == GroupKind.TAG else trace_metadata).alias("grouped_key")
            on = and_(table.c.trace_id == traces.c.trace_id, table.c.key == literal(group.key, String()))
            source = traces.outerjoin(table, on)
            columns.append(table.c.value.label("grp"))
        status, latency, usage = traces.c.state, traces.c.execution_duration, traces.c
    if "error_rate" in query.metrics:
        columns.append(case((status == "ERROR", 1), else_=0).label("err"))
    columns.append(latency.label("d"))
    columns += [usage[name].label(name) for name in _TOKEN_METRICS if name in query.metrics]
    if "cost" in query.metrics:
        columns.append(usage.total_cost.label("cost"))
    return select(*columns).select_from(source).where(*conditions)


def _keys(source: FromClause, group: GroupSpec | None) -> list[ColumnElement[Any]]:
    return [source.c.bucket] if group is None else [source.c.bucket, source.c.grp]


def _scale(group: GroupSpec | None) -> float:
    """Units of the latency column per millisecond."""
    return _NS_PER_MS if group is not None and group.over_spans else 1.0


def _milliseconds(latency: ColumnElement[Any], scale: float) -> ColumnElement[Any]:
    as_float = cast(latency, Float)
    return as_float if scale == 1.0 else as_float / literal(scale, Float())


def _totals(
    metrics: Sequence[str], count: ColumnElement[Any], total: Callable[[str], ColumnElement[Any]]
) -> list[ColumnElement[Any]]:
    """The non-percentile metrics, given how to count entities and how to sum an entity column."""
    columns: list[ColumnElement[Any]] = [cast(count, BigInteger).label("request_count")]
    if "error_rate" in metrics:
        columns.append((cast(total("err"), Float) / count).label("error_rate"))
    # SUM of BIGINT is NUMERIC on PostgreSQL: cast back so both databases return integers.
    columns += [cast(total(name), BigInteger).label(name) for name in _TOKEN_METRICS if name in metrics]
    if "cost" in metrics:
        columns.append(cast(total("cost"), Float).label("cost"))
    return columns
