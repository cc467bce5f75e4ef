"""Serving endpoints on loopback (uvicorn in a thread), agents, and the LLM stub for the agents tests."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest
import uvicorn

import tracelake
from tracelake.agents import ResponsesAgent, load_agent_from_file
from tracelake.agents.serving import EndpointSettings, create_endpoint_app
from tracelake.testing.llm_stub import LLMStub

EXAMPLES = Path(__file__).parent / "examples"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for(condition: Callable[[], Any], timeout: float = 30.0, what: str = "condition") -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} not met within {timeout}s")
        time.sleep(0.05)


class Endpoint:
    """A serving endpoint run by uvicorn in a background thread of the test process."""

    def __init__(self, agent: ResponsesAgent, settings: EndpointSettings) -> None:
        self.port = free_port()
        self.settings = settings
        self.app = create_endpoint_app(agent, settings)
        config = uvicorn.Config(self.app, host="127.0.0.1", port=self.port, log_level="warning", lifespan="on")
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, daemon=True)
        self._clients: list[openai.OpenAI] = []

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def openai(self) -> openai.OpenAI:
        """An `openai` client of the endpoint (closed when the endpoint stops)."""
        client = openai.OpenAI(base_url=self.url + "/v1", api_key="unused", max_retries=0)
        self._clients.append(client)
        return client

    def start(self) -> Endpoint:
        self._thread.start()

        def healthy() -> bool:
            try:
                return httpx.get(self.url + "/health", timeout=2).status_code == 200
            except httpx.HTTPError:
                return False

        wait_for(healthy, what="endpoint health")
        return self

    def stop(self) -> None:
        for client in self._clients:
            client.close()
        self._server.should_exit = True
        self._thread.join(30)


@pytest.fixture
def llm() -> Iterator[LLMStub]:
    with LLMStub() as stub:
        stub.add_rule("order", "Your order has shipped.")
        yield stub


@pytest.fixture
def support_agent(llm: LLMStub) -> ResponsesAgent:
    return load_agent_from_file(EXAMPLES / "support_agent.py", {"llm_base_url": llm.base_url, "temperature": 0.2})


@pytest.fixture
def serve(tmp_path: Path) -> Iterator[Callable[..., Endpoint]]:
    """Start endpoints over an embedded store in tmp_path; stopped at the end of the test."""
    started: list[Endpoint] = []

    def start(agent: ResponsesAgent, endpoint_name: str = "support", **settings: Any) -> Endpoint:
        settings.setdefault("experiment_name", "support-agent")
        settings.setdefault("home", str(tmp_path / "store"))
        endpoint = Endpoint(agent, EndpointSettings(endpoint_name=endpoint_name, **settings)).start()
        started.append(endpoint)
        return endpoint

    yield start
    for endpoint in started:
        endpoint.stop()


def stored_trace(trace_id: str) -> tracelake.Trace:
    """The trace as stored, once the endpoint's spans reached the store."""
    assert tracelake.flush(30)
    return tracelake.get_trace(trace_id)
