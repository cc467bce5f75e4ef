"""The SDK writing into the embedded store and reading back, as a user's app does."""

from __future__ import annotations

import asyncio
import contextlib
import time
from pathlib import Path

import pytest

import tracelake
from postgres_db import BACKENDS, postgres_database
from tracelake import _setup
from tracelake.model import TraceState


@tracelake.trace(span_type="TOOL")
def lookup(order_id: str) -> dict[str, str]:
    if order_id == "missing":
        raise LookupError(f"no order {order_id}")
    return {"order_id": order_id, "status": "shipped"}


@tracelake.trace(span_type="AGENT")
async def answer(question: str, order_id: str, user: str) -> str:
    tracelake.update_current_trace(
        session_id=f"s-{user}",
        user_id=user,
        client_request_id=f"req-{order_id}",
        tags={"team": "care"},
        metadata={"environment": "production", "app_version": "1.4.0"},
    )
    with tracelake.start_span("plan", span_type="CHAIN") as span:
        span.set_inputs({"question": question})
        span.set_outputs({"steps": 2})
    order = lookup(order_id)
    with tracelake.start_span("llm", span_type="CHAT_MODEL") as span:
        span.set_inputs({"messages": [{"role": "user", "content": question}]})
        tracelake.set_llm_usage("gpt-4o-mini", "openai", input_tokens=200, output_tokens=50)
        span.set_outputs({"choices": [{"message": {"role": "assistant", "content": "It shipped."}}]})
    return f"Order {order['order_id']} is {order['status']}."


def test_issue_example_end_to_end() -> None:
    experiment = tracelake.set_experiment("support-agent")
    assert tracelake.set_experiment("support-agent").experiment_id == experiment.experiment_id
    assert asyncio.run(answer("Where is my order?", "o-1", "u-7")) == "Order o-1 is shipped."
    with pytest.raises(LookupError):
        asyncio.run(answer("And this one?", "missing", "u-8"))
    assert tracelake.flush(30) is True

    errors = tracelake.search_traces(
        filter_string="status = 'ERROR' AND metadata.environment = 'production'",
        order_by=["timestamp_ms DESC"],
        max_results=50,
    )
    assert len(errors) == 1
    info = errors[0].info
    assert info.state is TraceState.ERROR
    assert info.client_request_id == "req-missing"
    assert (info.session_id, info.user_id) == ("s-u-8", "u-8")

    ok = tracelake.search_traces(filter_string="status = 'OK'")
    trace = tracelake.get_trace(ok[0].info.trace_id)
    info = trace.info
    assert info.experiment_id == experiment.experiment_id
    assert info.name == "answer"
    assert info.state is TraceState.OK
    assert info.request_time > 0 and info.execution_duration is not None and info.execution_duration >= 0
    assert info.tags == {"team": "care"}
    assert info.metadata["environment"] == "production"
    assert info.metadata["app_version"] == "1.4.0"
    assert (info.session_id, info.user_id, info.client_request_id) == ("s-u-7", "u-7", "req-o-1")
    assert info.response_preview == "Order o-1 is shipped."
    assert info.request_preview is not None and "Where is my order?" in info.request_preview
    assert info.token_usage is not None
    assert (info.token_usage.input_tokens, info.token_usage.output_tokens) == (200, 50)
    assert info.cost is not None and info.cost.total_cost > 0
    names = sorted(span.name for span in trace.data.spans)
    assert names == ["answer", "llm", "lookup", "plan"]
    root = trace.data.root_span
    assert root is not None and root.name == "answer"
    assert root.inputs == {"question": "Where is my order?", "order_id": "o-1", "user": "u-7"}
    tool = trace.search_spans(span_type="TOOL")[0]
    assert tool.parent_id == root.span_id
    assert tool.outputs == {"order_id": "o-1", "status": "shipped"}

    by_span = tracelake.search_traces(filter_string="span.type = 'TOOL' AND span.status = 'ERROR'")
    assert [t.info.client_request_id for t in by_span] == ["req-missing"]
    by_session = tracelake.search_traces(filter_string="session = 's-u-7' OR user = 'nobody'")
    assert len(by_session) == 1


def test_experiment_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRACELAKE_EXPERIMENT_NAME", "from-env")
    monkeypatch.setenv("TRACELAKE_ENVIRONMENT", "staging")
    with tracelake.start_span("request"):
        pass
    assert tracelake.flush(30)
    experiment = tracelake.get_experiment_by_name("from-env")
    assert experiment is not None
    (trace,) = tracelake.search_traces(experiment_ids=[experiment.experiment_id])
    assert trace.info.environment == "staging"


def test_burst_of_3000_traces_loses_none() -> None:
    tracelake.set_experiment("burst")

    @tracelake.trace
    def handle(i: int) -> int:
        with tracelake.start_span("step") as span:
            span.set_inputs(i)
        return i

    for i in range(3_000):
        handle(i)
    assert tracelake.flush(60) is True
    stats = tracelake.export_stats()
    assert stats is not None and stats.dropped == 0 and stats.failed == 0
    found = tracelake.search_traces(max_results=5_000, include_spans=False)
    assert len(found) == 3_000
    assert found.next_page_token is None


def test_paging_returns_every_trace_once() -> None:
    tracelake.set_experiment("paging")
    for i in range(25):
        with tracelake.start_span(f"t{i}"):
            pass
    assert tracelake.flush(30)
    seen: list[str] = []
    token = None
    while True:
        page = tracelake.search_traces(max_results=10, page_token=token, include_spans=False)
        seen.extend(t.info.trace_id for t in page)
        token = page.next_page_token
        if token is None:
            break
    assert len(seen) == 25 == len(set(seen))


def test_delete_traces_for_retention() -> None:
    experiment = tracelake.set_experiment("retention")
    for i in range(6):
        with tracelake.start_span(f"t{i}"):
            pass
    assert tracelake.flush(30)
    traces = tracelake.search_traces(order_by=["timestamp_ms ASC"], include_spans=False)
    ids = [t.info.trace_id for t in traces]
    assert tracelake.delete_traces(experiment.experiment_id, trace_ids=ids[:1]) == 1
    cutoff_ms = int(time.time() * 1000) + 1
    assert tracelake.delete_traces(experiment.experiment_id, max_timestamp_ms=cutoff_ms, max_traces=2) == 2
    remaining = [t.info.trace_id for t in tracelake.search_traces(order_by=["timestamp_ms ASC"], include_spans=False)]
    assert remaining == ids[3:]
    with pytest.raises(tracelake.NotFoundError):
        tracelake.get_trace(ids[0])


def test_filter_with_sql_is_never_executed() -> None:
    tracelake.set_experiment("injection")
    with tracelake.start_span("normal"):
        pass
    assert tracelake.flush(30)
    for hostile in ("name = 'x'; DROP TABLE traces; --", "name = 'x' OR 1=1", "tags.`a'; DROP TABLE traces; --` = 'b'"):
        with contextlib.suppress(tracelake.QueryError):
            assert tracelake.search_traces(filter_string=hostile) == []
    assert len(tracelake.search_traces()) == 1


def test_bad_filter_says_what_and_where() -> None:
    with pytest.raises(tracelake.QueryError) as caught:
        tracelake.search_traces(filter_string="status = 'OK' AND colour = 'red'")
    assert caught.value.position == 18
    assert "colour" in str(caught.value)


def test_ten_thousand_span_trace_and_ten_megabyte_input_round_trip() -> None:
    tracelake.set_experiment("big")
    with tracelake.start_span("root") as root:
        root.set_inputs({"document": "z" * 10_000_000})
        for i in range(9_999):
            with tracelake.start_span("chunk") as span:
                span.set_outputs(i)
    assert tracelake.flush(120)
    trace = tracelake.get_trace(root.trace_id)
    assert trace.info.span_count == 10_000
    assert len(trace.data.spans) == 10_000
    stored_root = trace.data.root_span
    assert stored_root is not None
    assert "[tracelake: truncated" in str(stored_root.inputs)
    assert trace.info.state is TraceState.OK


def test_unwritable_store_is_logged_once_and_app_unaffected(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the data folder should be")
    tracelake.configure(home=str(blocker))

    @tracelake.trace
    def work(i: int) -> int:
        return i + 1

    assert [work(i) for i in range(5)] == [1, 2, 3, 4, 5]
    assert tracelake.flush(30) is False
    assert work(5) == 6
    assert tracelake.flush(30) is False
    assert sum("could not store" in r.getMessage() for r in caplog.records) == 1


@pytest.mark.parametrize("backend", BACKENDS)
def test_nul_characters_are_stored_safely(backend: str, tmp_path: Path) -> None:
    with contextlib.ExitStack() as stack:
        if backend == "postgresql":
            url = stack.enter_context(postgres_database("tracelake_nul"))
            tracelake.configure(tracking_uri=url.render_as_string(hide_password=False), home=str(tmp_path))
            # The store must be closed before the database is dropped.
            stack.callback(_setup._close_store)
            stack.callback(tracelake.shutdown)
        else:
            tracelake.configure(home=str(tmp_path))
        tracelake.set_experiment("nul")
        with tracelake.start_span("na\x00me") as span:
            tracelake.update_current_trace(tags={"t\x00": "v\x00"}, metadata={"m": "x\x00y"}, session_id="s\x00")
            span.set_inputs("in\x00put")
            span.set_outputs("out\x00put")
        assert tracelake.flush(30) is True
        trace = tracelake.get_trace(span.trace_id)
        assert trace.data.spans[0].inputs == "in\x00put"  # the payload keeps the exact value
        assert trace.info.name == "na\ufffdme"
        assert trace.info.tags == {"t\ufffd": "v\ufffd"}
