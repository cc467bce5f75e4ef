"""A deployed endpoint on a server with auth traces as its own service principal (CAN_EDIT on its experiment)."""

from __future__ import annotations

import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

import tracelake
import tracelake.agents as agents

from .conftest import AuthServer

ECHO_AGENT = """
from tracelake.agents import ResponsesAgent, ResponsesResponse, text_output_item

class EchoAgent(ResponsesAgent):
    def predict(self, request):
        return ResponsesResponse(output=[text_output_item(f"echo: {request.input[-1].text}")])
"""
EXAMPLE = {"input": [{"role": "user", "content": "hi"}]}


@pytest.fixture(autouse=True)
def _stop_endpoints() -> Iterator[None]:
    yield
    for endpoint in agents.list_endpoints():
        agents.stop_endpoint(endpoint.name, timeout_s=10)


def test_a_deployed_endpoint_gets_its_own_service_principal(
    auth_server: AuthServer, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    token = auth_server.user("alice")
    monkeypatch.setenv("TRACELAKE_TRACKING_URI", auth_server.url)
    monkeypatch.setenv("TRACELAKE_TOKEN", token)
    monkeypatch.setenv("TRACELAKE_HOME", str(tmp_path / "deployer"))
    code = tmp_path / "agent.py"
    code.write_text(textwrap.dedent(ECHO_AGENT), encoding="utf-8")
    agents.log_agent("main.support.echo", code=code, input_example=EXAMPLE)

    endpoint = agents.deploy("main.support.echo/1", endpoint_name="echo", experiment="echo-prod")
    answer = httpx.post(endpoint.url + "/invocations", json=EXAMPLE, timeout=30).json()
    assert answer["output"][0]["content"][0]["text"] == "echo: hi"

    experiment = tracelake.get_experiment_by_name("echo-prod")
    assert experiment is not None
    deadline = time.monotonic() + 60
    while not tracelake.search_traces([experiment.experiment_id]):
        assert time.monotonic() < deadline, "the endpoint's trace did not arrive"
        time.sleep(0.1)
    with auth_server.client(token) as alice:
        grants = alice.get(f"/api/v1/permissions/experiment/{experiment.experiment_id}").json()["permissions"]
        model_grants = alice.get("/api/v1/permissions/registered_model/main.support.echo").json()["permissions"]
    principals = [grant for grant in grants if grant["principal_kind"] == "service_principal"]
    assert [grant["level"] for grant in principals] == ["CAN_EDIT"]
    client_id = principals[0]["principal"]
    assert {(grant["principal"], grant["level"]) for grant in model_grants} >= {(client_id, "CAN_READ")}
    # Its only grants: nothing else was given to it.
    assert len(auth_server.auth.resources(auth_server.principal(client_id), "experiment")) == 1
