"""SDK → OTLP → the real tracelake server → store → REST → client → SDK reads, and a server crash mid-load."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

import tracelake
from tracelake.client import Client

pytest.importorskip("tracelake.server.app", reason="the tracking server is not available")
pytest.importorskip("uvicorn")

from .real_server import ProcessServer, ThreadServer, free_port


@tracelake.trace(span_type="TOOL")
def lookup(order_id: str) -> dict[str, str]:
    return {"order_id": order_id, "status": "shipped"}


@tracelake.trace(span_type="AGENT")
def answer(question: str, order_id: str) -> str:
    tracelake.update_current_trace(
        tags={"team": "care"}, metadata={"environment": "production"}, client_request_id=f"req-{order_id}"
    )
    with tracelake.start_span("plan", span_type="CHAIN") as span:
        span.set_outputs({"steps": 1})
    return f"Order {lookup(order_id)['order_id']} is shipped."


@pytest.fixture
def server(tmp_path: Path) -> Iterator[ThreadServer]:
    running = ThreadServer(tmp_path / "server").start()
    yield running
    running.stop()


def point_sdk_at(url: str, monkeypatch: pytest.MonkeyPatch, experiment: str = "support-agent") -> None:
    monkeypatch.setenv("TRACELAKE_TRACKING_URI", url)
    monkeypatch.setenv("TRACELAKE_EXPERIMENT_NAME", experiment)
    monkeypatch.setenv("TRACELAKE_EXPORT_INTERVAL_MS", "20")


def wait_for(condition: object, timeout: float = 90.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while not condition():  # type: ignore[operator]
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} not met within {timeout}s")
        time.sleep(0.1)


def test_the_sdk_writes_and_reads_back_through_the_server(
    server: ThreadServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    point_sdk_at(server.url, monkeypatch)
    assert answer("where is my order?", "A-1") == "Order A-1 is shipped."
    assert tracelake.flush(30) is True

    experiment = tracelake.get_experiment_by_name("support-agent")
    assert experiment is not None  # created by the OTLP door from the header
    (trace,) = tracelake.search_traces(filter_string="tags.team = 'care'")
    assert trace.info.experiment_id == experiment.experiment_id
    assert trace.info.client_request_id == "req-A-1"
    assert trace.info.metadata["environment"] == "production"
    assert sorted(span.name for span in trace.data.spans) == ["answer", "lookup", "plan"]
    full = tracelake.get_trace(trace.info.trace_id)
    root = full.data.root_span
    assert root is not None and root.name == "answer"
    assert root.inputs == {"question": "where is my order?", "order_id": "A-1"}
    assert root.outputs == "Order A-1 is shipped."
    assert full.search_spans(name="lookup")[0].span_type == "TOOL"

    with Client(server.url) as client:
        by_request = client.get_trace_by_client_request_id(experiment.experiment_id, "req-A-1")
        assert by_request.info.trace_id == trace.info.trace_id

    assert tracelake.delete_traces(experiment.experiment_id, trace_ids=[trace.info.trace_id]) == 1
    with pytest.raises(tracelake.NotFoundError):
        tracelake.get_trace(trace.info.trace_id)


def test_feedback_reaches_the_trace_through_the_server(server: ThreadServer, monkeypatch: pytest.MonkeyPatch) -> None:
    point_sdk_at(server.url, monkeypatch)
    answer("q", "F-1")
    assert tracelake.flush(30) is True
    (trace,) = tracelake.search_traces()
    helpful = tracelake.log_feedback(trace.info.trace_id, name="helpful", value=True, rationale="quick")
    thumbs = tracelake.log_feedback(client_request_id="req-F-1", name="thumbs_up", value=False)
    assert thumbs.trace_id == helpful.trace_id == trace.info.trace_id
    stored = tracelake.get_trace(trace.info.trace_id).info.assessments
    assert sorted((a.name, a.value) for a in stored) == [("helpful", True), ("thumbs_up", False)]


def test_set_experiment_then_trace_into_it(server: ThreadServer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRACELAKE_TRACKING_URI", server.url)
    experiment = tracelake.set_experiment("billing-agent")
    assert tracelake.set_experiment("billing-agent") == experiment  # found, not created twice
    lookup("B-1")
    assert tracelake.flush(30) is True
    (trace,) = tracelake.search_traces()
    assert trace.info.experiment_id == experiment.experiment_id
    with pytest.raises(tracelake.QueryError):
        tracelake.search_traces(filter_string="tags.team = ")


def test_a_server_crash_mid_load_loses_and_duplicates_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    server = ProcessServer(tmp_path / "server").start()
    try:
        point_sdk_at(server.url, monkeypatch, "crash-test")
        monkeypatch.setenv("TRACELAKE_EXPORT_BATCH_SIZE", "30")
        total = 300
        crashed = threading.Event()

        def crash_when_loaded() -> None:
            with Client(server.url, retries=0) as client:
                wait_for(lambda: _count(client, "crash-test") >= 40, what="first traces stored")
            server.kill()
            crashed.set()

        killer = threading.Thread(target=crash_when_loaded)
        killer.start()
        for i in range(total):
            answer("q", f"C-{i}")
            if i == total // 2:
                crashed.wait(120)  # the second half of the load meets a dead server
        killer.join(120)
        assert crashed.is_set()
        tracelake.flush(30)  # spans are now acknowledged or spooled: nothing waits in memory
        spool = Path(os.environ["TRACELAKE_HOME"]) / "spool"
        assert list(spool.rglob("*.otlp")), "the load after the crash should be waiting on disk"

        server.start()  # same port, same store
        with Client(server.url) as client:
            wait_for(lambda: _count(client, "crash-test") == total, what=f"{total} traces stored")
            traces = list(client.iter_traces(_experiment_ids(client, "crash-test"), include_spans=True))
        assert len({t.info.trace_id for t in traces}) == total
        assert sorted(t.info.client_request_id or "" for t in traces) == sorted(f"req-C-{i}" for i in range(total))
        for trace in traces:  # every span exactly once, the summary right after merging re-sent batches
            assert sorted(s.name for s in trace.data.spans) == ["answer", "lookup", "plan"]
            assert trace.info.span_count == 3
        stats = tracelake.export_stats()
        assert stats is not None and (stats.dropped, stats.failed) == (0, 0)
    finally:
        server.stop()


def test_what_one_process_spooled_the_next_one_delivers(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    home = tmp_path / "app-home"
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRACELAKE_")}
    env.update(TRACELAKE_TRACKING_URI=url, TRACELAKE_EXPERIMENT_NAME="restart-test", TRACELAKE_HOME=str(home))
    code = (
        "import tracelake\n"
        "for i in range(5):\n"
        "    with tracelake.start_span(f'offline-{i}'):\n"
        "        pass\n"
        "tracelake.flush(30)\n"
    )
    subprocess.run([sys.executable, "-c", code], env=env, check=True, timeout=120)  # no server yet: spooled
    assert len(list((home / "spool").rglob("*.otlp"))) >= 1
    server = ProcessServer(tmp_path / "server", port).start()
    try:
        monkeypatch.setenv("TRACELAKE_HOME", str(home))
        point_sdk_at(url, monkeypatch, "restart-test")
        tracelake.configure()  # the next run of the app finds the spool and drains it
        with Client(url) as client:
            wait_for(lambda: _count(client, "restart-test") == 5, what="spooled traces delivered")
        wait_for(lambda: not list((home / "spool").rglob("*.otlp")), what="spool emptied")
    finally:
        server.stop()


def _experiment_ids(client: Client, name: str) -> list[str]:
    experiment = client.get_experiment_by_name(name)
    return [] if experiment is None else [experiment.experiment_id]


def _count(client: Client, name: str) -> int:
    ids = _experiment_ids(client, name)
    return sum(1 for _ in client.iter_traces(ids)) if ids else 0
