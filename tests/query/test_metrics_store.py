"""query_metrics through the real store: traces written by `write_batches`, as ingest writes them."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tracelake.ingest import counted_span_ids
from tracelake.model import Cost, Span, SpanStatus, StatusCode, TokenUsage, TraceBatch, TraceFields
from tracelake.query import query_metrics
from tracelake.store import SqlTraceStore, open_embedded_store

from .database import BACKENDS, postgres_database

MS = 1_000_000  # ns
T0 = 1_764_000_000_000  # ms, a whole hour
MINUTE = 60_000


@pytest.fixture(params=BACKENDS)
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[SqlTraceStore]:
    if request.param == "sqlite":
        with open_embedded_store(tmp_path / "home") as opened:
            yield opened
        return
    with postgres_database(with_schema=False) as url, SqlTraceStore(str(url), str(tmp_path / "artifacts")) as opened:
        yield opened


def span(trace: int, number: int, name: str, start_ms: int, end_ms: int | None, **extra: Any) -> Span:
    return Span(
        trace_id=f"{trace:032x}",
        span_id=f"{trace:08x}{number:08x}",
        parent_id=None if number == 0 else f"{trace:08x}{0:08x}",
        name=name,
        span_type=extra.pop("span_type", "AGENT" if number == 0 else "TOOL"),
        start_time_ns=(T0 + start_ms) * MS,
        end_time_ns=None if end_ms is None else (T0 + end_ms) * MS,
        status=SpanStatus(extra.pop("status", StatusCode.OK)),
        **extra,
    )


def llm(trace: int, number: int, model: str, start_ms: int, end_ms: int, tokens: tuple[int, int], cost: float) -> Span:
    usage = TokenUsage(input_tokens=tokens[0], output_tokens=tokens[1], total_tokens=sum(tokens))
    return span(
        trace,
        number,
        "chat",
        start_ms,
        end_ms,
        span_type="LLM",
        model_name=model,
        token_usage=usage,
        cost=Cost(total_cost=cost),
    )


def write(store: SqlTraceStore, experiment_id: str, *spans: Span, tags: dict[str, str] | None = None) -> None:
    batch = TraceBatch(spans[0].trace_id, list(spans), TraceFields(tags=tags or {}), counted_span_ids(spans))
    store.write_batches(experiment_id, [batch])


def metrics(store: SqlTraceStore, experiment_id: str, **options: Any) -> dict[str | None, list[dict[str, Any]]]:
    result = query_metrics(store, [experiment_id], T0, T0 + 60 * MINUTE, 600, options.pop("metrics"), **options)
    return {series["group"]: series["points"] for series in result.to_dict()["series"]}


def test_dashboard_numbers_follow_the_traces_as_they_arrive(store: SqlTraceStore) -> None:
    experiment_id = store.create_experiment("support-agent").experiment_id
    write(
        store,
        experiment_id,
        span(1, 0, "agent", 0, 400),
        llm(1, 1, "gpt-4o", 50, 250, (100, 20), 0.003),
        span(1, 2, "search", 260, 300, status=StatusCode.ERROR),
        tags={"env": "prod"},
    )
    write(
        store,
        experiment_id,
        span(2, 0, "agent", MINUTE, MINUTE + 1_000, status=StatusCode.ERROR),
        llm(2, 1, "gpt-4o-mini", MINUTE + 10, MINUTE + 30, (10, 5), 0.0001),
    )
    # Trace 3 is still running: its root has not ended; its LLM call has.
    write(
        store,
        experiment_id,
        span(3, 0, "agent", 2 * MINUTE, None),
        llm(3, 1, "gpt-4o", 2 * MINUTE, 2 * MINUTE + 90, (7, 3), 0.001),
    )
    write(store, store.create_experiment("other").experiment_id, span(9, 0, "agent", 0, 5))

    everything = ["request_count", "error_rate", "latency_p50", "latency_p99", "total_tokens", "cost"]
    assert metrics(store, experiment_id, metrics=everything) == {
        None: [
            {
                "start_time_ms": T0,
                "request_count": 3,
                "error_rate": pytest.approx(1 / 3),
                "latency_p50": 400.0,
                "latency_p99": 1000.0,
                "total_tokens": 145,
                "cost": pytest.approx(0.0041),
            }
        ]
    }
    assert metrics(
        store, experiment_id, metrics=["request_count", "latency_p50", "input_tokens"], group_by="model"
    ) == {
        "gpt-4o": [{"start_time_ms": T0, "request_count": 2, "latency_p50": 90.0, "input_tokens": 107}],
        "gpt-4o-mini": [{"start_time_ms": T0, "request_count": 1, "latency_p50": 20.0, "input_tokens": 10}],
    }
    assert metrics(store, experiment_id, metrics=["request_count", "error_rate"], group_by="span.name") == {
        "agent": [{"start_time_ms": T0, "request_count": 3, "error_rate": pytest.approx(1 / 3)}],
        "chat": [{"start_time_ms": T0, "request_count": 3, "error_rate": 0.0}],
        "search": [{"start_time_ms": T0, "request_count": 1, "error_rate": 1.0}],
    }
    assert metrics(store, experiment_id, metrics=["request_count"], group_by="tags.env") == {
        None: [{"start_time_ms": T0, "request_count": 2}],
        "prod": [{"start_time_ms": T0, "request_count": 1}],
    }
    assert metrics(
        store, experiment_id, metrics=["request_count"], filter_string="span.type = 'LLM' AND cost > 0.002"
    ) == {None: [{"start_time_ms": T0, "request_count": 1}]}

    # Trace 3 ends: it now has a latency (and still counts once).
    write(store, experiment_id, span(3, 0, "agent", 2 * MINUTE, 2 * MINUTE + 30_000))
    after = metrics(store, experiment_id, metrics=["request_count", "latency_p50", "latency_p99"])
    assert after == {None: [{"start_time_ms": T0, "request_count": 3, "latency_p50": 1000.0, "latency_p99": 30_000.0}]}

    # A new trace in the next ten minutes makes a second point; the buckets between stay out.
    write(store, experiment_id, span(4, 0, "agent", 35 * MINUTE, 35 * MINUTE + 10))
    points = metrics(store, experiment_id, metrics=["request_count"])[None]
    assert points == [
        {"start_time_ms": T0, "request_count": 3},
        {"start_time_ms": T0 + 30 * MINUTE, "request_count": 1},
    ]
