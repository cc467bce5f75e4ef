"""`tracelake serve`: the endpoint as its own process, as a container would run it."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import openai
import pytest

import tracelake
from tracelake.testing.llm_stub import LLMStub

from .conftest import EXAMPLES

SRC = Path(__file__).resolve().parents[2] / "src"


def cli_env() -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith(("TRACELAKE_", "OTEL_"))}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(SRC), env.get("PYTHONPATH")]))
    return env


def run_cli(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "tracelake.cli", "--home", str(home), *args]
    return subprocess.run(command, capture_output=True, text=True, env=cli_env(), timeout=120, check=False)


def test_serve_answers_traces_and_stops_cleanly_on_sigterm(tmp_path: Path, llm: LLMStub) -> None:
    config = tmp_path / "config.json"
    config.write_text(json.dumps({"llm_base_url": llm.base_url}))
    home = tmp_path / "home"
    command = [
        sys.executable, "-m", "tracelake.cli", "--home", str(home), "serve",
        "--agent-file", str(EXAMPLES / "support_agent.py"), "--config", str(config),
        "--endpoint-name", "support", "--experiment", "support-agent", "--port", "0",
        "--model-name", "main.support.agent", "--model-version", "2",
    ]  # fmt: skip
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=cli_env())
    try:
        assert process.stdout is not None
        first = process.stdout.readline()
        assert "listening on http://127.0.0.1:" in first, first + (process.stderr.read() if process.stderr else "")
        url = first.rsplit(" ", 1)[1].strip()
        with openai.OpenAI(base_url=url + "/v1", api_key="unused", max_retries=0) as client:
            raw = client.responses.with_raw_response.create(model="m", input="where is my order?")
            assert raw.parse().output_text == "Your order has shipped."
    finally:
        process.send_signal(signal.SIGTERM)
        assert process.wait(60) == 0
        if process.stdout is not None:
            process.stdout.close()
        if process.stderr is not None:
            process.stderr.close()
    # The spans were flushed at shutdown into the store in --home.
    tracelake.configure(home=str(home))
    trace = tracelake.get_trace(raw.headers["x-tracelake-trace-id"])
    assert trace.info.metadata["model_version"] == "2"
    assert trace.info.metadata["environment"] == "production"


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (["--agent-file", "missing.py"], 1, "does not exist"),
        (["--agent-file", str(EXAMPLES / "support_agent.py"), "--config", "nope.json"], 2, "cannot read --config"),
        ([], 2, "one of the arguments --agent-file"),
    ],
)
def test_serve_explains_what_is_wrong_in_one_line(tmp_path: Path, args: list[str], code: int, message: str) -> None:
    result = run_cli(tmp_path, "serve", "--endpoint-name", "e", *args)
    assert result.returncode == code
    assert message in result.stderr and len(result.stderr.strip().splitlines()) == 1


def test_a_config_file_must_hold_a_json_object(tmp_path: Path) -> None:
    bad = tmp_path / "config.json"
    bad.write_text("[1, 2]")
    result = run_cli(tmp_path, "serve", "--endpoint-name", "e", "--agent-file", "a.py", "--config", str(bad))
    assert result.returncode == 2 and "must hold a JSON object" in result.stderr
