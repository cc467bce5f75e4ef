"""A deployed endpoint on a server with auth traces as its own service principal (CAN_EDIT on its experiment);
stopping it deletes that principal, so its credentials stop working."""

from __future__ import annotations

import socket
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

import tracelake
import tracelake.agents as agents
from tracelake.agents.deployment import EndpointStartError
from tracelake.cli import main

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
        # The server is gone by now (its fixture ended first): only the process is left to stop.
        agents.stop_endpoint(endpoint.name, timeout_s=10, keep_service_principal=True)


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


def _endpoint_secret(pid: int) -> tuple[str, str]:
    """The client id and secret the endpoint process was started with (read from /proc, as root may)."""
    try:
        raw = Path(f"/proc/{pid}/environ").read_bytes()
    except OSError as exc:
        pytest.skip(f"cannot read the endpoint's environment: {exc}")
    env = dict(item.split("=", 1) for item in raw.decode(errors="replace").split("\0") if "=" in item)
    return env["TRACELAKE_CLIENT_ID"], env["TRACELAKE_CLIENT_SECRET"]


def _exchange(server: AuthServer, client_id: str, secret: str) -> httpx.Response:
    data = {"grant_type": "client_credentials", "client_id": client_id, "client_secret": secret}
    return httpx.post(server.url + "/api/v1/oauth/token", data=data, timeout=30)


def test_stopping_an_endpoint_deletes_its_service_principal(
    auth_server: AuthServer, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    token = auth_server.user("alice")
    monkeypatch.setenv("TRACELAKE_TRACKING_URI", auth_server.url)
    monkeypatch.setenv("TRACELAKE_TOKEN", token)
    monkeypatch.setenv("TRACELAKE_HOME", str(tmp_path / "deployer"))
    code = tmp_path / "agent.py"
    code.write_text(textwrap.dedent(ECHO_AGENT), encoding="utf-8")
    agents.log_agent("main.support.echo", code=code, input_example=EXAMPLE)
    endpoint = agents.deploy("main.support.echo/1", endpoint_name="echo", experiment="echo-prod")
    assert endpoint.client_id is not None and endpoint.client_id.startswith("sp-")
    client_id, secret = _endpoint_secret(endpoint.pid)
    assert client_id == endpoint.client_id
    exchanged = _exchange(auth_server, client_id, secret)
    assert exchanged.status_code == 200
    access = exchanged.json()["access_token"]
    with auth_server.client(access) as as_endpoint:
        assert as_endpoint.get("/api/v1/me").json()["principal"]["name"] == client_id

    # Without the deployer's credentials the principal cannot be deleted: the process stops, the record stays.
    monkeypatch.delenv("TRACELAKE_TOKEN")
    assert main(["endpoints", "stop", "echo", "--timeout", "20"]) == 1
    assert f"could not delete the service principal {client_id}" in capsys.readouterr().err
    assert not endpoint.running and [found.name for found in agents.list_endpoints()] == ["echo"]
    assert _exchange(auth_server, client_id, secret).status_code == 200

    monkeypatch.setenv("TRACELAKE_TOKEN", token)
    assert main(["endpoints", "stop", "echo"]) == 0
    out = capsys.readouterr().out
    assert "had exited; forgot it" in out and f"Deleted its service principal {client_id}" in out
    assert agents.list_endpoints() == []
    refused = _exchange(auth_server, client_id, secret)
    assert refused.status_code == 401 and refused.json()["error"] == "invalid_client"
    with auth_server.client(access) as as_endpoint:
        assert as_endpoint.get("/api/v1/me").status_code == 401  # its access token too, at once
    assert auth_server.auth.get_principal(client_id) is None
    with auth_server.client(auth_server.tokens["root"]) as root:
        events = root.get("/api/v1/audit-log").json()["events"]
    assert [(e["actor"], e["resource_id"]) for e in events if e["action"] == "service_principal.delete"] == [
        ("alice", client_id)
    ]


def test_an_endpoint_that_fails_to_start_leaves_no_service_principal(
    auth_server: AuthServer, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    token = auth_server.user("alice")
    monkeypatch.setenv("TRACELAKE_TRACKING_URI", auth_server.url)
    monkeypatch.setenv("TRACELAKE_TOKEN", token)
    monkeypatch.setenv("TRACELAKE_HOME", str(tmp_path / "deployer"))
    code = tmp_path / "agent.py"
    code.write_text(textwrap.dedent(ECHO_AGENT), encoding="utf-8")
    agents.log_agent("main.support.echo", code=code, input_example=EXAMPLE)
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        with pytest.raises(EndpointStartError, match="exited"):
            agents.deploy(
                "main.support.echo/1", endpoint_name="echo", experiment="echo-prod", port=taken.getsockname()[1]
            )
    with auth_server.client(token) as alice:
        assert alice.get("/api/v1/service-principals").json()["service_principals"] == []
    with auth_server.client(auth_server.tokens["root"]) as root:
        events = root.get("/api/v1/audit-log").json()["events"]
    made = [e["resource_id"] for e in events if e["action"] == "service_principal.create"]
    deleted = [e["resource_id"] for e in events if e["action"] == "service_principal.delete"]
    assert len(made) == 1 and deleted == made  # it was made for the endpoint, and taken back
