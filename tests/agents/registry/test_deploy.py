"""`deploy`: a registered version served by its own process, traced to the experiment; endpoints list/stop/logs."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest

import tracelake
import tracelake.agents as agents
from tracelake.agents.endpoints import process_alive
from tracelake.exceptions import ConfigError, ConflictError, NotFoundError
from tracelake.testing.llm_stub import LLMStub

from .conftest import ECHO_AGENT, LLM_AGENT, RegistryServer

NAME = "main.support.agent"
EXAMPLE = {"input": [{"role": "user", "content": "hi"}]}
SRC = Path(__file__).resolve().parents[3] / "src"


def wait_for(condition: Callable[[], Any], timeout: float = 30.0, what: str = "condition") -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} not met within {timeout}s")
        time.sleep(0.1)


@pytest.fixture(autouse=True)
def _stop_endpoints() -> Iterator[None]:
    """No endpoint process outlives its test."""
    yield
    for endpoint in agents.list_endpoints():
        agents.stop_endpoint(endpoint.name, timeout_s=10)


def _traces(experiment: str, minimum: int = 1) -> list[tracelake.Trace]:
    def found() -> list[tracelake.Trace]:
        current = tracelake.get_experiment_by_name(experiment)
        if current is None:
            return []
        traces = list(tracelake.search_traces([current.experiment_id]))
        return traces if len(traces) >= minimum else []

    traces: list[tracelake.Trace] = wait_for(found, what=f"{minimum} trace(s) in {experiment!r}")
    return traces


def test_deploy_serves_the_openai_client_and_traces_to_the_experiment(
    write_agent: Callable[..., Path], llm: LLMStub
) -> None:
    code = write_agent(LLM_AGENT)
    version = agents.log_agent(
        NAME, code=code, requirements=["openai>=1"], config={"llm_base_url": llm.base_url}, input_example=EXAMPLE
    )
    agents.set_alias(NAME, "champion", version.version)

    endpoint = agents.deploy(f"{NAME}@champion", endpoint_name="support", experiment="support-agent")

    assert (endpoint.name, endpoint.model_name, endpoint.model_version) == ("support", NAME, 1)
    assert endpoint.url.startswith("http://127.0.0.1:")
    assert endpoint.running
    client = openai.OpenAI(base_url=endpoint.url + "/v1", api_key="unused", max_retries=0)
    response = client.responses.create(model="support", input="how do refunds work?")
    assert response.output_text == "Refunds take 5 days."

    (trace,) = _traces("support-agent")
    assert trace.info.metadata["model_name"] == NAME
    assert trace.info.metadata["model_version"] == "1"
    assert trace.info.metadata["endpoint_name"] == "support"
    assert trace.info.metadata["environment"] == "production"
    assert "Refunds take 5 days." in (trace.info.response_preview or "")

    (listed,) = agents.list_endpoints()
    assert (listed.name, listed.pid, listed.url, listed.running) == ("support", endpoint.pid, endpoint.url, True)
    assert "support" in listed.logs()

    assert agents.stop_endpoint("support") is True
    assert not process_alive(endpoint.pid)
    assert agents.list_endpoints() == []
    with pytest.raises(httpx.ConnectError):
        httpx.get(endpoint.url + "/health", timeout=2)


def test_a_running_name_is_a_conflict_unless_replaced(write_agent: Callable[..., Path]) -> None:
    code = write_agent(ECHO_AGENT)
    for greeting in ("one", "two"):
        agents.log_agent(NAME, code=code, config={"greeting": greeting}, input_example=EXAMPLE)
    first = agents.deploy(f"{NAME}/1", endpoint_name="echo", experiment="echo")

    with pytest.raises(ConflictError, match="an endpoint named 'echo' is running"):
        agents.deploy(f"{NAME}/2", endpoint_name="echo", experiment="echo")
    assert first.running

    second = agents.deploy(f"{NAME}@latest", endpoint_name="echo", experiment="echo", replace=True)
    assert not process_alive(first.pid)
    assert second.model_version == 2
    answer = httpx.post(second.url + "/invocations", json=EXAMPLE, timeout=10).json()
    assert answer["output"][0]["content"][0]["text"] == "two: hi"
    assert [e.model_version for e in agents.list_endpoints()] == [2]


def test_deploying_what_does_not_exist_is_a_clear_error(write_agent: Callable[..., Path]) -> None:
    with pytest.raises(NotFoundError, match=r"no registered model named 'main\.missing\.agent'"):
        agents.deploy("main.missing.agent@champion", endpoint_name="x", experiment="x")
    agents.log_agent(NAME, code=write_agent(ECHO_AGENT))
    with pytest.raises(NotFoundError, match="has no version 5"):
        agents.deploy(f"{NAME}/5", endpoint_name="x", experiment="x")
    with pytest.raises(NotFoundError, match="no alias 'champion'"):
        agents.deploy(f"{NAME}@champion", endpoint_name="x", experiment="x")
    with pytest.raises(ConfigError, match="invalid endpoint name"):
        agents.deploy(f"{NAME}/1", endpoint_name="../etc", experiment="x")
    assert agents.list_endpoints() == []


def test_an_endpoint_that_exits_at_start_reports_its_log(write_agent: Callable[..., Path], tmp_path: Path) -> None:
    agents.log_agent(NAME, code=write_agent(ECHO_AGENT))
    # The port is taken by a listening socket: the endpoint cannot bind it.
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(agents.EndpointStartError, match="exited"):
            agents.deploy(f"{NAME}/1", endpoint_name="busy", experiment="x", port=port)
    assert agents.list_endpoints() == []


def _cli(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith(("TRACELAKE_", "OTEL_"))}
    env |= {"COLUMNS": "300", "NO_COLOR": "1", "TERM": "dumb"}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(SRC), env.get("PYTHONPATH")]))
    return subprocess.run(
        [sys.executable, "-m", "tracelake.cli", "--home", str(home), *args],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        cwd=home,
        check=False,
    )


@pytest.fixture
def cli_home(tmp_path: Path) -> Iterator[Path]:
    home = tmp_path / "cli-home"
    home.mkdir()
    yield home
    for endpoint in agents.list_endpoints(home=str(home)):
        agents.stop_endpoint(endpoint.name, timeout_s=10, home=str(home))


def test_the_cli_against_a_server_models_deploy_endpoints(
    sqlite_server: RegistryServer, write_agent: Callable[..., Path], cli_home: Path
) -> None:
    server, home = sqlite_server, cli_home
    remote = ("--tracking-uri", server.url)
    code = write_agent(ECHO_AGENT)
    example = json.dumps(EXAMPLE)

    logged = _cli(home, "models", "log", NAME, "--code", str(code), "--input-example", example, *remote)
    assert logged.returncode == 0, logged.stderr
    assert "version 1" in logged.stdout
    assert _cli(home, "models", "set-alias", NAME, "champion", "1", *remote).returncode == 0
    listed = _cli(home, "models", "list", *remote)
    assert NAME in listed.stdout and "@champion → 1" in listed.stdout
    versions = _cli(home, "models", "versions", NAME, "--json", *remote)
    assert [item["aliases"] for item in map(json.loads, versions.stdout.splitlines())] == [["champion"]]
    shown = _cli(home, "models", "get", f"{NAME}@champion", *remote)
    assert f"models:/{NAME}/1" in shown.stdout

    deployed = _cli(home, "deploy", f"{NAME}@champion", "--endpoint-name", "cli-echo", "-e", "echo", "--json", *remote)
    assert deployed.returncode == 0, deployed.stderr
    endpoint = json.loads(deployed.stdout)
    assert endpoint["tracking_uri"] == server.url
    answer = httpx.post(endpoint["url"] + "/invocations", json=EXAMPLE, timeout=10).json()
    assert answer["output"][0]["content"][0]["text"] == "hello: hi"

    tracelake.configure(tracking_uri=server.url)  # the endpoint traced to the server's experiment
    (trace,) = _traces("echo")
    assert trace.info.metadata["model_version"] == "1"

    table = _cli(home, "endpoints", "list")
    assert "cli-echo" in table.stdout and "running" in table.stdout and NAME in table.stdout
    logs = _cli(home, "endpoints", "logs", "cli-echo", "--tail", "50")
    assert "cli-echo" in logs.stdout
    stopped = _cli(home, "endpoints", "stop", "cli-echo")
    assert stopped.returncode == 0 and "Stopped endpoint 'cli-echo'" in stopped.stdout
    assert wait_for(lambda: not process_alive(endpoint["pid"]), what="the endpoint process to exit")
    assert _cli(home, "endpoints", "list", "--json").stdout == ""

    missing = _cli(home, "deploy", f"{NAME}/9", "--endpoint-name", "x", "-e", "x", *remote)
    assert missing.returncode == 1
    assert "has no version 9" in missing.stderr
