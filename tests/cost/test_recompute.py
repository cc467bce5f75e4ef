"""Recomputing the costs of stored traces after prices change: index rows, payloads and totals."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

import tracelake
from tracelake.ingest import normalize, reprice_span
from tracelake.model import SpanRecord
from tracelake.store import SqlTraceStore

from .records import record


def write(store: SqlTraceStore, experiment_id: str, *batches: list[SpanRecord]) -> None:
    for records in batches:
        store.write_batches(experiment_id, normalize(records))


def span_costs(store: SqlTraceStore, trace: int) -> dict[str, float | None]:
    spans = store.get_spans(f"{trace:032x}")
    return {span.name: None if span.cost is None else span.cost.total_cost for span in spans}


def indexed_costs(store: SqlTraceStore, trace: int) -> dict[str, float | None]:
    import sqlalchemy as sa

    from tracelake.store.sql.schema import spans

    query = sa.select(spans.c.name, spans.c.total_cost).where(spans.c.trace_id == f"{trace:032x}")
    return {name: cost for name, cost in store.execute_read(query)}


def trace_cost(store: SqlTraceStore, trace: int) -> float | None:
    cost = store.get_trace_info(f"{trace:032x}").cost
    return None if cost is None else cost.total_cost


def test_recompute_applies_new_prices_everywhere(store: SqlTraceStore) -> None:
    experiment_id = store.create_experiment("costs").experiment_id
    # Trace 1: a root, a gpt-4o-mini call (1M in / 1M out), a call to a model nobody prices yet,
    # and a call whose cost the app set itself. Its spans arrive in two writes.
    write(
        store,
        experiment_id,
        [record(1, 2, 1, tokens=(1_000_000, 1_000_000)), record(1, 3, 1, tokens=(1_000_000, 0), model="my-model")],
        [record(1, 4, 1, tokens=(10, 10), cost=0.5), record(1, 1, None)],
    )
    before = span_costs(store, 1)
    assert before["span-3"] is None
    assert before["span-2"] is not None

    tracelake.set_model_price("gpt-4o-mini", input_per_mtok=1.0, output_per_mtok=2.0)
    tracelake.set_model_price("my-model", input_per_mtok=0.5, output_per_mtok=0.5)
    result = store.recompute_costs(experiment_id, reprice_span)

    assert (result.traces_checked, result.traces_changed, result.spans_changed) == (1, 1, 2)
    assert result.retry_trace_ids == []
    expected = {"span-1": None, "span-2": 3.0, "span-3": 0.5, "span-4": 0.5}
    assert span_costs(store, 1) == pytest.approx(expected)
    assert indexed_costs(store, 1) == pytest.approx(expected)
    assert trace_cost(store, 1) == pytest.approx(4.0)
    # A second run finds nothing to change.
    again = store.recompute_costs(experiment_id, reprice_span)
    assert (again.traces_checked, again.spans_changed) == (1, 0)


def test_a_model_that_loses_its_price_loses_its_cost(store: SqlTraceStore) -> None:
    experiment_id = store.create_experiment("costs").experiment_id
    tracelake.set_model_price("my-model", input_per_mtok=1.0, output_per_mtok=1.0)
    write(store, experiment_id, [record(1, 1, None, tokens=(1_000_000, 0), model="my-model")])
    assert trace_cost(store, 1) == pytest.approx(1.0)

    tracelake.ingest.prices.clear_model_prices()
    store.recompute_costs(experiment_id, reprice_span)

    assert span_costs(store, 1) == {"span-1": None}
    assert trace_cost(store, 1) is None


def test_nested_calls_still_count_once_after_recompute(store: SqlTraceStore) -> None:
    experiment_id = store.create_experiment("costs").experiment_id
    write(store, experiment_id, [record(1, 3, 2, tokens=(1_000_000, 0))], [record(1, 2, 1, tokens=(1_000_000, 0))])
    write(store, experiment_id, [record(1, 1, None)])

    tracelake.set_model_price("gpt-4o-mini", input_per_mtok=7.0, output_per_mtok=7.0)
    store.recompute_costs(experiment_id, reprice_span)

    assert trace_cost(store, 1) == pytest.approx(7.0)


def test_since_limits_the_traces(store: SqlTraceStore) -> None:
    experiment_id = store.create_experiment("costs").experiment_id
    write(
        store, experiment_id, [record(1, 1, None, tokens=(1_000_000, 0))], [record(2, 1, None, tokens=(1_000_000, 0))]
    )
    second_start_ms = store.get_trace_info(f"{2:032x}").request_time
    tracelake.set_model_price("gpt-4o-mini", input_per_mtok=9.0, output_per_mtok=9.0)

    result = store.recompute_costs(experiment_id, reprice_span, since_ms=second_start_ms + 1)

    assert result.traces_checked == 0
    assert trace_cost(store, 1) != pytest.approx(9.0)


def test_unknown_experiment_is_not_found(store: SqlTraceStore) -> None:
    with pytest.raises(tracelake.NotFoundError):
        store.recompute_costs("999", reprice_span)


def _embedded_trace() -> str:
    with tracelake.start_span("agent", span_type="AGENT"), tracelake.start_span("llm", span_type="LLM"):
        tracelake.set_llm_usage("my-model", "openai", input_tokens=2_000_000, output_tokens=0)
    assert tracelake.flush(30)
    (trace,) = tracelake.search_traces()
    return trace.info.trace_id


def test_sdk_recompute_in_embedded_mode() -> None:
    tracelake.set_experiment("priced")
    trace_id = _embedded_trace()
    assert tracelake.get_trace(trace_id).info.cost is None

    tracelake.set_model_price("my-model", input_per_mtok=1.5, output_per_mtok=0)
    result = tracelake.recompute_costs(experiment_name="priced")

    assert result["spans_changed"] == 1
    trace = tracelake.get_trace(trace_id)
    assert trace.info.cost is not None
    assert trace.info.cost.total_cost == pytest.approx(3.0)
    with pytest.raises(tracelake.ConfigError):
        tracelake.recompute_costs()
    with pytest.raises(tracelake.NotFoundError):
        tracelake.recompute_costs(experiment_name="nope")


def test_cli_recompute_cost(tmp_path: Path) -> None:
    tracelake.configure(home=str(tmp_path / "home"))
    tracelake.set_experiment("priced")
    trace_id = _embedded_trace()
    tracelake.shutdown()
    prices = tmp_path / "prices.json"
    prices.write_text('{"models": {"my-model": {"input_per_mtok": 0.25, "output_per_mtok": 1}}}')

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        command = [sys.executable, "-m", "tracelake.cli", "--home", str(tmp_path / "home"), "traces", *args]
        return subprocess.run(command, capture_output=True, text=True, timeout=120, check=False, cwd=tmp_path)

    done = cli("recompute-cost", "--experiment", "priced", "--since", "7d", "--prices-file", str(prices))

    assert done.returncode == 0, done.stderr
    assert "1 span cost(s) changed in 1 trace(s)" in done.stdout
    tracelake.configure(home=str(tmp_path / "home"))
    info = tracelake.get_trace(trace_id).info
    assert info.cost is not None
    assert info.cost.total_cost == pytest.approx(0.5)

    prices.write_text('{"models": {"my-model": {"input_per_mtok": 0.25}}}')
    bad = cli("recompute-cost", "--experiment", "priced", "--prices-file", str(prices))
    assert bad.returncode != 0
    assert "output_per_mtok" in bad.stderr
    assert "Traceback" not in bad.stderr
