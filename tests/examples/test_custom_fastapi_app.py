"""examples/custom_fastapi_app: a FastAPI service traced to a real `tracelake server` by env vars alone."""

from __future__ import annotations

import os
import queue
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from tracelake.client import Client
from tracelake.model import Trace
from tracelake.testing.llm_stub import LLMStub

ROOT = Path(__file__).resolve().parents[2]
APP_DIR = ROOT / "examples" / "custom_fastapi_app"
SRC = ROOT / "src"
DEADLINE_S = 60.0


def wait_until(condition: Callable[[], object], what: str) -> None:
    deadline = time.monotonic() + DEADLINE_S
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def answers_health(url: str) -> Callable[[], bool]:
    def check() -> bool:
        try:
            return httpx.get(f"{url}/health", timeout=2).status_code == 200
        except httpx.TransportError:
            return False

    return check


def clean_env() -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith(("TRACELAKE_", "OTEL_", "OPENAI_"))}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(SRC), env.get("PYTHONPATH")]))
    return env


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def stop(process: subprocess.Popen[str]) -> None:
    process.send_signal(signal.SIGINT)
    try:
        process.wait(timeout=DEADLINE_S)
    finally:
        if process.poll() is None:
            process.kill()


@pytest.fixture
def server(tmp_path: Path) -> Iterator[str]:
    """`tracelake server --port 0` in its own process; yields its URL."""
    command = [sys.executable, "-m", "tracelake.cli", "--home", str(tmp_path / "server"), "server", "--port", "0"]
    with subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=clean_env(), cwd=tmp_path
    ) as process:
        assert process.stdout is not None
        output = process.stdout
        lines: queue.Queue[str] = queue.Queue()
        reader = threading.Thread(target=lambda: [lines.put(line) for line in output], daemon=True)
        reader.start()
        try:
            first = lines.get(timeout=DEADLINE_S)
            assert " listening on http://127.0.0.1:" in first, first
            url = first.rsplit(" ", 1)[-1].strip()
            wait_until(answers_health(url), "the tracelake server")
            yield url
        finally:
            stop(process)
            reader.join(DEADLINE_S)


@pytest.fixture
def stub() -> Iterator[LLMStub]:
    with LLMStub() as llm:
        llm.add_tool_call("where is order", "lookup_order", {"order_id": "o-42"})
        llm.add_rule("shipped", "Your order o-42 has shipped.")
        yield llm


@contextmanager
def running_app(tmp_path: Path, env: dict[str, str]) -> Iterator[str]:
    """The example app (`python app.py`) in its own process, configured by `env` only; yields its URL."""
    port = free_port()
    log_path = tmp_path / "app.log"
    with log_path.open("w") as log:
        process = subprocess.Popen(
            [sys.executable, "app.py"],
            env={**clean_env(), **env, "PORT": str(port)},
            cwd=APP_DIR,
            stdout=log,
            stderr=log,
            text=True,
        )
        url = f"http://127.0.0.1:{port}"

        def up() -> bool:
            if process.poll() is not None:
                raise AssertionError(f"the example app exited: {log_path.read_text()}")
            return answers_health(url)()

        try:
            wait_until(up, "the example app")
            yield url
        finally:
            stop(process)


def test_production_traces_by_environment_variables_alone(server: str, stub: LLMStub, tmp_path: Path) -> None:
    with Client(server) as client:
        experiment_id = client.create_experiment("support-prod").experiment_id
        with (
            running_app(
                tmp_path,
                {
                    "TRACELAKE_TRACING": "true",
                    "TRACELAKE_TRACKING_URI": server,
                    "TRACELAKE_EXPERIMENT_ID": experiment_id,
                    "TRACELAKE_ENVIRONMENT": "production",
                    "TRACELAKE_HOME": str(tmp_path / "app-home"),  # the spool, should the server be away
                    "OPENAI_BASE_URL": stub.base_url,
                    "OPENAI_API_KEY": "unused",
                },
            ) as url,
            httpx.Client(base_url=url, timeout=30) as http,
        ):
            first = http.post("/ask", json={"question": "where is order o-42?", "user_id": "u-7", "request_id": "r-1"})
            second = http.post("/ask", json={"question": "hello", "user_id": "u-8", "session_id": "s-1"})

        assert first.status_code == 200, first.text
        assert first.json()["answer"] == "Your order o-42 has shipped."
        assert second.json()["answer"] == "Echo: hello"
        trace_ids = {first.json()["trace_id"], second.json()["trace_id"]}

        def both_stored() -> list[Trace] | None:
            page = client.search_traces([experiment_id], include_spans=True)
            return list(page) if {t.info.trace_id for t in page} == trace_ids else None

        wait_until(both_stored, "the app's traces on the server")
        traces = {trace.info.metadata.get("user_id"): trace for trace in both_stored() or []}

    tool_trace = traces["u-7"]
    assert tool_trace.info.trace_id == first.json()["trace_id"]
    assert tool_trace.info.metadata["environment"] == "production"
    assert tool_trace.info.client_request_id == "r-1"
    spans = tool_trace.data.spans
    root = next(span for span in spans if span.parent_id is None)
    assert root.span_type == "AGENT"
    assert root.name.endswith("ask")
    assert root.inputs == {
        "question": {"question": "where is order o-42?", "user_id": "u-7", "session_id": None, "request_id": "r-1"}
    }
    llm_spans = [span for span in spans if span.span_type == "LLM"]
    tools = [span for span in spans if span.span_type == "TOOL"]
    assert len(llm_spans) == 2
    assert [tool.name.rsplit(".", 1)[-1] for tool in tools] == ["lookup_order"]
    assert {span.parent_id for span in [*llm_spans, *tools]} == {root.span_id}
    assert all(span.model_name == "gpt-4o-mini" for span in llm_spans)
    assert tool_trace.info.token_usage is not None
    assert tool_trace.info.token_usage.input_tokens == sum(
        s.token_usage.input_tokens for s in llm_spans if s.token_usage
    )
    assert tool_trace.info.cost is not None
    assert tool_trace.info.cost.total_cost == pytest.approx(sum(s.cost.total_cost for s in llm_spans if s.cost))
    assert traces["u-8"].info.metadata["session_id"] == "s-1"
    assert traces["u-8"].info.metadata["environment"] == "production"
