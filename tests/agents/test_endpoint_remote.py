"""The endpoint tracing to a real `tracelake server`: traces and feedback over the wire; a down server fails nothing."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

import tracelake
from tracelake.agents import ResponsesAgent

from .conftest import Endpoint, free_port, wait_for

pytest.importorskip("tracelake.server.app", reason="the tracking server is not available")

from remote.real_server import ProcessServer, ThreadServer

Serve = Callable[..., Endpoint]


@pytest.fixture
def tracking_server(tmp_path: Path) -> Iterator[ThreadServer]:
    server = ThreadServer(tmp_path / "server").start()
    yield server
    server.stop()


def test_traces_and_feedback_go_to_the_tracking_server(
    serve: Serve, support_agent: ResponsesAgent, tracking_server: ThreadServer
) -> None:
    endpoint = serve(
        support_agent, tracking_uri=tracking_server.url, model_name="main.support.agent", model_version="1"
    )
    client = endpoint.openai()
    raw = client.responses.with_raw_response.create(
        model="m", input="where is my order?", extra_headers={"x-tracelake-client-request-id": "req-r"}
    )
    trace_id = raw.headers["x-tracelake-trace-id"]
    streamed = list(client.responses.create(model="m", input="order status?", stream=True))
    streamed_id = streamed[-1].response.metadata["trace_id"]

    feedback = httpx.post(
        endpoint.url + "/feedback", json={"client_request_id": "req-r", "value": True, "user_id": "u"}
    )
    assert feedback.status_code == 201 and feedback.json()["trace_id"] == trace_id

    experiment = tracelake.get_experiment_by_name("support-agent")  # created by the server's OTLP door
    assert experiment is not None
    for wanted in (trace_id, streamed_id):
        trace = tracelake.get_trace(wanted)
        assert trace.info.experiment_id == experiment.experiment_id
        assert trace.info.metadata["endpoint_name"] == "support"
        assert trace.info.metadata["model_version"] == "1"
        assert trace.data.root_span is not None and trace.data.root_span.name == "support"
        assert any(span.span_type == "AGENT" for span in trace.data.spans)
    (stored,) = tracelake.get_assessments(trace_id)
    assert (stored.name, stored.value, stored.source.source_id) == ("thumbs_up", True, "u")


def test_a_tracking_server_that_is_down_fails_no_request_and_the_traces_arrive_later(
    serve: Serve, support_agent: ResponsesAgent, tmp_path: Path
) -> None:
    port = free_port()
    endpoint = serve(support_agent, tracking_uri=f"http://127.0.0.1:{port}")
    client = endpoint.openai()
    trace_ids = []
    for _ in range(3):
        raw = client.responses.with_raw_response.create(model="m", input="where is my order?")
        assert raw.parse().output_text == "Your order has shipped."
        trace_ids.append(raw.headers["x-tracelake-trace-id"])
    streamed = list(client.responses.create(model="m", input="order?", stream=True))
    assert streamed[-1].type == "response.completed"
    trace_ids.append(streamed[-1].response.metadata["trace_id"])
    # Feedback needs the store: while it is away, the answer says so instead of hanging or lying.
    feedback = httpx.post(endpoint.url + "/feedback", json={"trace_id": trace_ids[0], "value": True}, timeout=60)
    assert feedback.status_code == 503

    server = ProcessServer(tmp_path / "server", port=port).start()
    try:

        def all_arrived() -> bool:
            with httpx.Client(base_url=server.url) as rest:
                return all(rest.get(f"/api/v1/traces/{trace_id}").status_code == 200 for trace_id in trace_ids)

        wait_for(all_arrived, timeout=90, what="spooled traces reaching the server")
    finally:
        server.stop()
