"""`tracelake.recompute_costs` in remote mode: the server reprices, through the REST API."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

import tracelake
from remote.real_server import ThreadServer
from tracelake.client import Client


@pytest.fixture
def server(tmp_path: Path) -> Iterator[ThreadServer]:
    running = ThreadServer(tmp_path / "server").start()
    yield running
    running.stop()


def test_recompute_through_the_server(server: ThreadServer) -> None:
    tracelake.configure(tracking_uri=server.url, experiment_name="remote-costs")
    with tracelake.start_span("agent", span_type="AGENT"), tracelake.start_span("llm", span_type="LLM"):
        tracelake.set_llm_usage("house-model", "self-hosted", input_tokens=1_000_000, output_tokens=1_000_000)
    assert tracelake.flush(30)
    (trace,) = tracelake.search_traces()
    assert trace.info.cost is None  # nobody prices house-model yet

    # The server runs in this process, so a price set here is the server's price too.
    tracelake.set_model_price("house-model", input_per_mtok=0.1, output_per_mtok=0.2)
    result = tracelake.recompute_costs(experiment_name="remote-costs")

    assert (result["traces_checked"], result["spans_changed"]) == (1, 1)
    info = tracelake.get_trace(trace.info.trace_id).info
    assert info.cost is not None
    assert info.cost.total_cost == pytest.approx(0.3)
    with Client(server.url) as client:
        assert client.recompute_costs(trace.info.experiment_id)["spans_changed"] == 0
        with pytest.raises(tracelake.NotFoundError):
            client.recompute_costs("424242")
