"""Archive syncs against real stores, read back with deltalake, DuckDB and Polars."""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import polars as pl
from deltalake import DeltaTable

from store.builders import make_batch, make_span, trace_id
from tracelake.monitoring.archive import settings as st
from tracelake.monitoring.archive.sql import connect, query
from tracelake.monitoring.archive.sync import run_sync
from tracelake.store import SqlTraceStore

from .conftest import agent_trace, feedback, fields, keys, read


def _enabled(store: SqlTraceStore, location: Path, name: str = "agent") -> str:
    experiment_id = store.create_experiment(name).experiment_id
    st.enable(store.engine, experiment_id, str(location), 60)
    return experiment_id


def test_sync_writes_the_store_into_three_tables(store: SqlTraceStore, tmp_path: Path) -> None:
    lake = tmp_path / "lake"
    experiment_id = _enabled(store, lake)
    store.write_batches(experiment_id, [agent_trace(n, day=n % 2, **fields(n)) for n in range(1, 21)])
    store.add_assessment(feedback(trace_id(3), "helpful", True))

    result = run_sync(store, experiment_id, settle_ms=0)

    assert (result.traces, result.spans, result.assessments) == (20, 60, 1)
    traces = {row["trace_id"]: row for row in read(lake, "traces")}
    assert set(traces) == {trace_id(n) for n in range(1, 21)}
    for info in store.get_trace_infos(list(traces)):
        row = traces[info.trace_id]
        assert row["state"] == info.state.value
        assert row["execution_duration_ms"] == info.execution_duration
        assert row["total_tokens"] == info.token_usage.total_tokens  # type: ignore[union-attr]
        assert dict(row["tags"]) == info.tags
        assert dict(row["metadata"]) == info.metadata
        assert row["session_id"] == info.session_id and row["user_id"] == "u1"
        assert json.loads(row["request"]) == {"q": f"question {int(info.trace_id, 16)}"}
        stored_spans = store.get_spans(info.trace_id)
        assert json.loads(row["spans"]) == [span.to_dict() for span in stored_spans]
        assert row["date"].toordinal() - 719163 == info.request_time // 86_400_000  # partitioned by UTC day

    spans = read(lake, "spans")
    assert len(spans) == 60 == len(set(keys(spans, "trace_id", "span_id")))
    llm = next(row for row in spans if row["trace_id"] == trace_id(7) and row["name"] == "llm")
    assert (llm["input_tokens"], llm["output_tokens"], llm["model_name"]) == (17, 5, "gpt-test")
    assert json.loads(llm["inputs"]) == [{"m": "hi"}]

    (assessment,) = read(lake, "assessments")
    assert (assessment["trace_id"], assessment["name"], json.loads(assessment["value"])) == (
        trace_id(3),
        "helpful",
        True,
    )
    assert assessment["source_type"] == "HUMAN" and dict(assessment["metadata"]) == {"via": "ui"}

    # The same tables through DuckDB (over deltalake's Arrow dataset) and Polars.
    counts = query(str(lake), experiment_id, "SELECT count(*) AS n, sum(total_tokens) AS t FROM traces").to_pylist()
    assert counts == [{"n": 20, "t": sum(10 + n + 5 for n in range(1, 21))}]
    joined = connect(str(lake), experiment_id).sql(
        "SELECT t.trace_id, count(*) AS spans FROM traces t JOIN spans s USING (trace_id) GROUP BY 1"
    )
    assert sorted(joined.fetchall()) == [(trace_id(n), 3) for n in range(1, 21)]
    frame = pl.read_delta(str(lake / "spans"))
    assert frame.height == 60
    assert frame.filter(pl.col("span_type") == "LLM").height == 20


def test_an_incremental_sync_keeps_one_row_per_key_in_its_latest_version(store: SqlTraceStore, tmp_path: Path) -> None:
    lake = tmp_path / "lake"
    experiment_id = _enabled(store, lake)
    store.write_batches(experiment_id, [agent_trace(n) for n in range(1, 6)])
    first = store.add_assessment(feedback(trace_id(1), "helpful", False))
    run_sync(store, experiment_id, settle_ms=0)

    # More spans to trace 2, an edited and a new feedback, a tag, a brand new trace.
    late = make_span(2, 9, 1, 400, 450, name="late", outputs="more")
    store.write_batches(experiment_id, [make_batch([late]), agent_trace(6)])
    store.update_assessment(trace_id(1), first.assessment_id, {"value": True, "rationale": "changed my mind"})
    store.add_assessment(feedback(trace_id(4), "helpful", True))
    store.set_trace_tag(trace_id(5), "reviewed", "yes")
    second = run_sync(store, experiment_id, settle_ms=0)

    assert second.traces == 5  # traces 1, 2, 4, 5 changed; 6 is new; 3 untouched
    traces = read(lake, "traces")
    assert keys(traces, "trace_id") == [(trace_id(n),) for n in range(1, 7)]
    by_id = {row["trace_id"]: row for row in traces}
    assert by_id[trace_id(2)]["span_count"] == 4 and len(json.loads(by_id[trace_id(2)]["spans"])) == 4
    assert dict(by_id[trace_id(5)]["tags"]) == {"reviewed": "yes"}
    spans = read(lake, "spans")
    assert len(spans) == 19 == len(set(keys(spans, "trace_id", "span_id")))
    assessments = {row["assessment_id"]: row for row in read(lake, "assessments")}
    assert len(assessments) == 2
    edited = assessments[first.assessment_id]
    assert json.loads(edited["value"]) is True and edited["rationale"] == "changed my mind"

    # Nothing changed: nothing written, tables untouched.
    versions = {name: DeltaTable(str(lake / name)).version() for name in ("traces", "spans", "assessments")}
    assert run_sync(store, experiment_id, settle_ms=0).batches == 0
    assert {name: DeltaTable(str(lake / name)).version() for name in versions} == versions
    state = st.get_state(store.engine, experiment_id)
    assert state is not None and state.last_status == "ok" and state.traces_rows == 10


def test_a_backfill_in_many_batches_is_complete(store: SqlTraceStore, tmp_path: Path) -> None:
    lake = tmp_path / "lake"
    experiment_id = _enabled(store, lake)
    for start in range(0, 300, 50):  # six writes: six distinct last_update_time values at most
        store.write_batches(experiment_id, [agent_trace(n) for n in range(start + 1, start + 51)])
    seen: list[tuple[int, int]] = []

    result = run_sync(store, experiment_id, settle_ms=0, batch_traces=40, progress=lambda d, t: seen.append((d, t)))

    assert result.traces == 300 and result.batches >= 2
    assert seen[-1] == (300, 300)
    assert len(read(lake, "spans")) == 900
    duck = duckdb.sql("SELECT 1")  # DuckDB works offline: no extension download anywhere
    assert duck.fetchall() == [(1,)]
