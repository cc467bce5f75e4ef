"""query_metrics on hand-made index rows, with exact expected numbers, on SQLite and PostgreSQL.

The data: experiment 1 has four traces in hour 0 (one of them still running), none in hour 1 and
one in hour 2; a trace just before the range, one after it, and one of another experiment must
never count.
"""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from typing import Any

import pytest
import sqlalchemy as sa

from tracelake.query import METRICS, MetricsResult, query_metrics
from tracelake.store.sql.schema import spans

from .database import Db, EngineStore

HOUR = 3_600_000
T0 = 1_764_000_000_000  # a whole hour
END = T0 + 3 * HOUR
MS = 1_000_000  # ns


def add_spans(db: Db, trace_id: str, experiment_id: int, *rows: Mapping[str, Any]) -> None:
    """Insert spans with durations and usage (the shared `Db.add` only knows names and types)."""
    columns = ("model_name", "input_tokens", "output_tokens", "total_tokens", "total_cost")
    values = []
    for index, row in enumerate(rows):
        duration_ms = row.get("ms")
        values.append(
            {
                "trace_id": trace_id,
                "span_id": f"{index:016x}",
                "experiment_id": experiment_id,
                "parent_span_id": None if index == 0 else f"{0:016x}",
                "name": row["name"],
                "span_type": row.get("type", "CHAIN"),
                "status": row.get("status", "OK"),
                "start_time_ns": 0,
                "end_time_ns": None if duration_ms is None else int(duration_ms * MS),
                "duration_ns": None if duration_ms is None else int(duration_ms * MS),
                **{column: row.get(column) for column in columns},
            }
        )
    with db.engine.begin() as connection:
        connection.execute(spans.insert(), values)


def trace(trace_id: str, at: int, duration: int | None, state: str = "OK", **extra: Any) -> dict[str, Any]:
    return {"trace_id": trace_id, "request_time": at, "execution_duration": duration, "state": state, **extra}


def usage(inputs: int, outputs: int, cost: float | None = None) -> dict[str, Any]:
    return {"input_tokens": inputs, "output_tokens": outputs, "total_tokens": inputs + outputs, "total_cost": cost}


@pytest.fixture(scope="module")
def loaded(module_db: Db) -> EngineStore:
    db = module_db
    db.experiment(3, lifecycle_stage="deleted")
    db.add(
        trace("a" * 32, T0 + 1_000, 100, tags={"env": "prod"}, metadata={"env": "production"}, **usage(10, 5, 0.01)),
        trace("b" * 32, T0 + 2_000, 200, "ERROR", tags={"env": "prod"}, **usage(20, 10, 0.02)),
        trace("c" * 32, T0 + 3_000, 300, tags={"env": "staging"}),
        trace("d" * 32, T0 + 4_000, None, "IN_PROGRESS"),
        trace("e" * 32, T0 + 2 * HOUR + 5, 50, tags={"env": "staging"}, **usage(1, 2, 0.5)),
        trace("f" * 32, T0 - 1, 7, "ERROR", tags={"env": "prod"}),  # before the range
        trace("0" * 32, END, 7, "ERROR", tags={"env": "prod"}),  # at the (exclusive) end
        trace("1" * 32, T0 + 10, 7, "ERROR", experiment_id=2, tags={"env": "prod"}),
        trace("2" * 32, T0 + 10, 7, "ERROR", experiment_id=3),  # a deleted experiment
    )
    add_spans(
        db,
        "a" * 32,
        1,
        {"name": "agent", "type": "AGENT", "ms": 100},
        {"name": "llm", "type": "LLM", "ms": 60, "model_name": "gpt-4o", **usage(10, 5, 0.01)},
        {"name": "search", "type": "TOOL", "ms": 20, "status": "ERROR"},
    )
    add_spans(
        db,
        "b" * 32,
        1,
        {"name": "agent", "type": "AGENT", "ms": 200, "status": "ERROR"},
        {"name": "llm", "type": "LLM", "ms": 150, "model_name": "gpt-4o", **usage(20, 8, 0.02)},
        {"name": "llm", "type": "LLM", "ms": 1.5, "model_name": "claude", **usage(0, 2, 0.001)},
    )
    add_spans(db, "c" * 32, 1, {"name": "agent", "ms": 300}, {"name": "search", "type": "TOOL", "ms": 10})
    add_spans(db, "d" * 32, 1, {"name": "agent", "ms": None}, {"name": "llm", "ms": None, "model_name": "gpt-4o"})
    add_spans(db, "e" * 32, 1, {"name": "agent", "ms": 50})
    add_spans(db, "1" * 32, 2, {"name": "llm", "ms": 9, "model_name": "gpt-4o"})
    return EngineStore(db.engine)


def run(store: EngineStore, metrics: Sequence[str] = METRICS, **options: Any) -> MetricsResult:
    arguments: dict[str, Any] = {"experiment_ids": ["1"], "start_time_ms": T0, "end_time_ms": END}
    arguments |= {"bucket_seconds": 3600, "metrics": metrics} | options
    return query_metrics(store, **arguments)


def table(result: MetricsResult) -> dict[str | None, dict[int, dict[str, Any]]]:
    """{group: {bucket offset in hours: {metric: value}}}, in the result's series order."""
    return {
        series.group: {
            (point.start_time_ms - T0) // HOUR: {name: getattr(point, name) for name in result.metrics}
            for point in series.points
        }
        for series in result.series
    }


def test_every_metric_per_hour_leaves_out_empty_buckets(loaded: EngineStore) -> None:
    result = run(loaded)
    assert result.bucket_seconds == 3600
    assert result.metrics == METRICS
    assert [series.group for series in result.series] == [None]
    hours = table(result)[None]
    # The running trace counts as a request, not as an error, and has no latency yet; the
    # percentiles are nearest-rank over 100, 200 and 300 ms.
    assert hours[0] == {
        "request_count": 4,
        "error_rate": 0.25,
        "latency_p50": 200.0,
        "latency_p90": 300.0,
        "latency_p99": 300.0,
        "input_tokens": 30,
        "output_tokens": 15,
        "total_tokens": 45,
        "cost": pytest.approx(0.03),
    }
    assert hours[2] == {
        "request_count": 1,
        "error_rate": 0.0,
        "latency_p50": 50.0,
        "latency_p90": 50.0,
        "latency_p99": 50.0,
        "input_tokens": 1,
        "output_tokens": 2,
        "total_tokens": 3,
        "cost": 0.5,
    }
    assert list(hours) == [0, 2]  # hour 1 had no traces


def test_only_the_metrics_asked_for_are_filled_in(loaded: EngineStore) -> None:
    result = run(loaded, ["cost", "request_count"])
    assert result.metrics == ("request_count", "cost")  # in METRICS order, whatever the request's
    point = result.series[0].points[0]
    assert (point.request_count, point.cost, point.error_rate, point.latency_p50) == (
        4,
        pytest.approx(0.03),
        None,
        None,
    )
    assert result.to_dict()["series"][0]["points"][0] == {
        "start_time_ms": T0,
        "request_count": 4,
        "cost": pytest.approx(0.03),
    }


def test_a_bucket_without_reported_usage_has_none_not_zero(loaded: EngineStore) -> None:
    result = run(loaded, ["input_tokens", "cost"], filter_string="trace_id = '" + "c" * 32 + "'")
    assert table(result) == {None: {0: {"input_tokens": None, "cost": None}}}


def test_latency_of_a_bucket_with_only_running_traces_is_none(loaded: EngineStore) -> None:
    result = run(loaded, ["request_count", "error_rate", "latency_p50"], filter_string="status = 'IN_PROGRESS'")
    assert table(result) == {None: {0: {"request_count": 1, "error_rate": 0.0, "latency_p50": None}}}


def test_group_by_tag_puts_traces_without_it_in_the_none_series(loaded: EngineStore) -> None:
    result = run(loaded, ["request_count", "error_rate", "latency_p50", "latency_p90", "cost"], group_by="tags.env")
    # Series by total requests: prod 2 and staging 1 + 1 (ties by name), then None 1.
    assert table(result) == {
        "prod": {
            0: {
                "request_count": 2,
                "error_rate": 0.5,
                "latency_p50": 100.0,
                "latency_p90": 200.0,
                "cost": pytest.approx(0.03),
            }
        },
        "staging": {
            0: {"request_count": 1, "error_rate": 0.0, "latency_p50": 300.0, "latency_p90": 300.0, "cost": None},
            2: {"request_count": 1, "error_rate": 0.0, "latency_p50": 50.0, "latency_p90": 50.0, "cost": 0.5},
        },
        None: {
            0: {"request_count": 1, "error_rate": 0.0, "latency_p50": None, "latency_p90": None, "cost": None},
        },
    }
    assert [series.group for series in result.series] == ["prod", "staging", None]


def test_group_by_metadata(loaded: EngineStore) -> None:
    result = run(loaded, ["request_count"], group_by="metadata.env")
    assert table(result) == {
        None: {0: {"request_count": 3}, 2: {"request_count": 1}},
        "production": {0: {"request_count": 1}},
    }


def test_group_by_model_counts_the_llm_spans(loaded: EngineStore) -> None:
    result = run(loaded, group_by="model")
    # gpt-4o: a's (60 ms), b's (150 ms) and d's running call; claude: b's 1.5 ms call. Trace e has
    # no LLM span, so hour 2 has no point; experiment 2's call never counts.
    assert table(result) == {
        "gpt-4o": {
            0: {
                "request_count": 3,
                "error_rate": 0.0,
                "latency_p50": 60.0,
                "latency_p90": 150.0,
                "latency_p99": 150.0,
                "input_tokens": 30,
                "output_tokens": 13,
                "total_tokens": 43,
                "cost": pytest.approx(0.03),
            }
        },
        "claude": {
            0: {
                "request_count": 1,
                "error_rate": 0.0,
                "latency_p50": 1.5,
                "latency_p90": 1.5,
                "latency_p99": 1.5,
                "input_tokens": 0,
                "output_tokens": 2,
                "total_tokens": 2,
                "cost": 0.001,
            }
        },
    }


def test_group_by_span_name_finds_slow_and_failing_tools(loaded: EngineStore) -> None:
    result = run(loaded, ["request_count", "error_rate", "latency_p50", "latency_p99"], group_by="span.name")
    assert table(result) == {
        "agent": {
            0: {"request_count": 4, "error_rate": 0.25, "latency_p50": 200.0, "latency_p99": 300.0},
            2: {"request_count": 1, "error_rate": 0.0, "latency_p50": 50.0, "latency_p99": 50.0},
        },
        "llm": {0: {"request_count": 4, "error_rate": 0.0, "latency_p50": 60.0, "latency_p99": 150.0}},
        "search": {0: {"request_count": 2, "error_rate": 0.5, "latency_p50": 10.0, "latency_p99": 20.0}},
    }


def test_filter_selects_the_traces(loaded: EngineStore) -> None:
    result = run(loaded, ["request_count", "error_rate"], filter_string="tags.env = 'prod' OR execution_time_ms < 60")
    assert table(result) == {
        None: {0: {"request_count": 2, "error_rate": 0.5}, 2: {"request_count": 1, "error_rate": 0.0}}
    }


def test_span_filter_with_span_grouping_keeps_every_span_of_the_matching_traces(loaded: EngineStore) -> None:
    # Only trace b has a claude call; all of b's LLM spans are grouped, not just the matching one.
    result = run(loaded, ["request_count"], filter_string="span.model = 'claude'", group_by="model")
    assert table(result) == {"claude": {0: {"request_count": 1}}, "gpt-4o": {0: {"request_count": 1}}}
    result = run(loaded, ["request_count"], filter_string="span.name = 'search'", group_by="span.name")
    assert table(result) == {
        "agent": {0: {"request_count": 2}},
        "search": {0: {"request_count": 2}},
        "llm": {0: {"request_count": 1}},
    }


def test_experiments(loaded: EngineStore) -> None:
    def counts(experiment_ids: list[str] | None) -> dict[int, dict[str, Any]]:
        result = run(loaded, ["request_count"], experiment_ids=experiment_ids)
        return table(result)[None] if result.series else {}

    assert counts(["2"]) == {0: {"request_count": 1}}
    assert counts(["1", "2"]) == {0: {"request_count": 5}, 2: {"request_count": 1}}
    assert counts(None) == {0: {"request_count": 5}, 2: {"request_count": 1}}  # active experiments only
    assert counts(["3"]) == {0: {"request_count": 1}}  # a deleted experiment asked for by id
    assert counts([]) == {}


def test_buckets_are_aligned_to_the_epoch_not_to_the_start(loaded: EngineStore) -> None:
    result = run(loaded, ["request_count"], start_time_ms=T0 + 2_500, bucket_seconds=7200)
    # Traces c (T0 + 3 s) and d; the first bucket starts at T0, before the range.
    assert [(point.start_time_ms, point.request_count) for point in result.series[0].points] == [
        (T0, 2),
        (T0 + 2 * HOUR, 1),
    ]
    minute = run(loaded, ["request_count"], bucket_seconds=1, end_time_ms=T0 + 5_000)
    assert [(point.start_time_ms - T0, point.request_count) for point in minute.series[0].points] == [
        (1_000, 1),
        (2_000, 1),
        (3_000, 1),
        (4_000, 1),
    ]


def test_to_dict_is_the_rest_form(loaded: EngineStore) -> None:
    result = run(loaded, ["request_count", "latency_p90"], group_by="tags.env", end_time_ms=T0 + HOUR)
    assert result.to_dict() == {
        "bucket_seconds": 3600,
        "series": [
            {"group": "prod", "points": [{"start_time_ms": T0, "request_count": 2, "latency_p90": 200.0}]},
            {"group": "staging", "points": [{"start_time_ms": T0, "request_count": 1, "latency_p90": 300.0}]},
            {"group": None, "points": [{"start_time_ms": T0, "request_count": 1, "latency_p90": None}]},
        ],
    }


@pytest.mark.parametrize(
    ("durations", "expected"),
    [
        ([7], (7, 7, 7)),
        (list(range(1, 11)), (5, 9, 10)),
        (list(range(1, 101)), (50, 90, 99)),  # p·n whole: exactly the p·n-th value
        (list(range(1, 102)), (51, 91, 100)),  # ceil(p·n)
        ([5, 5, 5, 5, 9], (5, 9, 9)),  # ties
        ([1_000_000, 1, 2], (2, 1_000_000, 1_000_000)),
    ],
)
def test_percentiles_are_nearest_rank(db: Db, durations: list[int], expected: tuple[int, int, int]) -> None:
    db.add(*(trace(f"{index:032x}", T0 + index, duration) for index, duration in enumerate(durations)))
    result = run(EngineStore(db.engine), ["latency_p50", "latency_p90", "latency_p99"], bucket_seconds=86_400)
    point = result.series[0].points[0]
    assert (point.latency_p50, point.latency_p90, point.latency_p99) == tuple(float(value) for value in expected)


def test_the_portable_sql_agrees_with_postgresql_percentile_disc(db: Db) -> None:
    """Run both statements on one database: on PostgreSQL this compares the two definitions."""
    generator = random.Random(3)
    rows = []
    for index in range(3_000):
        duration = None if generator.random() < 0.05 else int(generator.lognormvariate(5, 1.2))
        state = "IN_PROGRESS" if duration is None else generator.choice(["OK", "OK", "ERROR"])
        rows.append(trace(f"{index:032x}", T0 + generator.randrange(3 * HOUR), duration, state))
    db.add(*rows)
    store = EngineStore(db.engine)
    native = run(store, bucket_seconds=600)
    sql = str(store.statements[0].compile(dialect=db.engine.dialect))
    assert ("percentile_disc" in sql) == (db.dialect == "postgresql")
    portable = run(Replay(db.engine, store.statements[0].portable), bucket_seconds=600)
    assert portable == native
    assert len(native.series[0].points) == 18
    assert sum(point.request_count or 0 for point in native.series[0].points) == 3_000


class Replay(EngineStore):
    """A store that runs a given statement instead of the one it is handed."""

    def __init__(self, engine: sa.Engine, statement: Any) -> None:
        super().__init__(engine)
        self.statement = statement

    def execute_read(self, statement: Any) -> list[Any]:
        return super().execute_read(self.statement)


def test_no_data_gives_no_series(db: Db) -> None:
    db.experiment(1)
    assert run(EngineStore(db.engine)).series == []


def test_the_statement_binds_every_value(loaded: EngineStore) -> None:
    store = EngineStore(loaded.engine)
    run(store, group_by="tags.`it's`", filter_string="name = 'x'")
    sql = str(store.statements[0].portable.compile(dialect=sa.create_engine("sqlite://").dialect))
    assert "it's" not in sql and "'x'" not in sql and str(T0) not in sql
