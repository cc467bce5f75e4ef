"""Tiny agents written into tmp_path, the LLM stub, and a real tracelake server for the registry tests."""

from __future__ import annotations

import textwrap
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import uvicorn

from postgres_db import BACKENDS, postgres_database
from remote.real_server import free_port, wait_until_healthy
from tracelake.server import ServerSettings, create_app
from tracelake.testing.llm_stub import LLMStub

ECHO_AGENT = """
from tracelake.agents import ResponsesAgent, ResponsesResponse, text_output_item

class EchoAgent(ResponsesAgent):
    def predict(self, request):
        greeting = self.config.get("greeting", "hello")
        return ResponsesResponse(output=[text_output_item(f"{greeting}: {request.input[-1].text}")])
"""

# Answers through an OpenAI-compatible LLM with the real `openai` client (the LLM stub in tests).
LLM_AGENT = """
import openai
from tracelake.agents import ResponsesAgent, ResponsesResponse, text_output_item

class SupportAgent(ResponsesAgent):
    def __init__(self):
        self.client = openai.OpenAI(base_url=self.config["llm_base_url"], api_key="unused", max_retries=0)

    def predict(self, request):
        completion = self.client.chat.completions.create(
            model="gpt-4o-mini",
            messages=[{"role": "user", "content": request.input[-1].text}],
            temperature=self.config.get("temperature", 0.0),
        )
        return ResponsesResponse(output=[text_output_item(completion.choices[0].message.content or "")])
"""


@pytest.fixture
def write_agent(tmp_path: Path) -> Callable[..., Path]:
    """Write an agent's code into tmp_path/<folder>/<name> and return its path."""

    def write(source: str, name: str = "agent.py", folder: str = "src") -> Path:
        path = tmp_path / folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(source), encoding="utf-8")
        return path

    return write


@pytest.fixture
def llm() -> Iterator[LLMStub]:
    with LLMStub() as stub:
        stub.add_rule("refund", "Refunds take 5 days.")
        yield stub


class RegistryServer:
    """The real tracelake server app under uvicorn in a thread, over SQLite or PostgreSQL."""

    def __init__(self, settings: ServerSettings) -> None:
        self.port = free_port()
        config = uvicorn.Config(create_app(settings), host="127.0.0.1", port=self.port, log_level="warning")
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> RegistryServer:
        self._thread.start()
        wait_until_healthy(self.url)
        return self

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join(30)


@pytest.fixture
def sqlite_server(tmp_path: Path) -> Iterator[RegistryServer]:
    """A tracelake server on loopback over an embedded store."""
    running = RegistryServer(ServerSettings.for_home(tmp_path / "server-home")).start()
    yield running
    running.stop()


@pytest.fixture(params=BACKENDS)
def server(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[RegistryServer]:
    """A tracelake server on loopback, over SQLite, then over a fresh PostgreSQL database."""
    if request.param == "sqlite":
        settings = ServerSettings.for_home(tmp_path / "server-home")
        running = RegistryServer(settings).start()
        yield running
        running.stop()
        return
    with postgres_database("tracelake_registry") as url:
        settings = ServerSettings(
            database_url=url.render_as_string(hide_password=False),
            default_artifact_root=str(tmp_path / "server-artifacts"),
        )
        running = RegistryServer(settings).start()
        yield running
        running.stop()
