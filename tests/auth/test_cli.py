"""The command line: `tracelake users …` (on the database), `server` choosing auth, `permissions …` (REST)."""

from __future__ import annotations

import contextlib
import os
import queue
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tracelake.cli.server import auth_required

SRC = Path(__file__).resolve().parents[2] / "src"


def _env(**extra: str) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith(("TRACELAKE_", "OTEL_"))}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(SRC), env.get("PYTHONPATH")]))
    return {**env, **extra}


def tracelake_cli(*args: str, stdin: str = "", **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "tracelake.cli", *args],
        input=stdin,
        capture_output=True,
        text=True,
        env=_env(**env),
        timeout=120,
    )


def _start(home: Path, *args: str) -> tuple[subprocess.Popen[str], str]:
    command = [sys.executable, "-m", "tracelake.cli", "--home", str(home), "server", "--port", "0", *args]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=_env())
    assert process.stdout is not None
    output = process.stdout
    lines: queue.Queue[str] = queue.Queue()
    threading.Thread(target=lambda: [lines.put(line) for line in output], daemon=True).start()
    first = lines.get(timeout=60)
    assert " listening on http://" in first, first
    port = first.rsplit(":", 1)[-1].strip()
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            if httpx.get(url + "/health", timeout=2).status_code == 200:
                break
        except httpx.TransportError:
            pass
        assert time.monotonic() < deadline, "the server did not answer /health"
        time.sleep(0.05)
    banner = [first]
    while not banner[-1].startswith(("  authentication", "  WARNING")):
        banner.append(lines.get(timeout=10))
    with contextlib.suppress(queue.Empty):
        banner.append(lines.get(timeout=1))  # the line after it, if any (no admin yet)
    process.banner = "".join(banner)  # type: ignore[attr-defined]
    return process, url


@pytest.fixture
def stop() -> Iterator[list[subprocess.Popen[str]]]:
    started: list[subprocess.Popen[str]] = []
    yield started
    for process in started:
        process.terminate()
        process.wait(30)
        if process.stdout is not None:
            process.stdout.close()


def test_auth_is_on_when_asked_or_beyond_loopback() -> None:
    assert auth_required("127.0.0.1", False, False) is False
    assert auth_required("::1", False, False) is False
    assert auth_required("localhost", False, False) is False
    assert auth_required("127.0.0.1", True, False) is True
    assert auth_required("0.0.0.0", False, False) is True
    assert auth_required("10.1.2.3", False, False) is True
    assert auth_required("0.0.0.0", False, True) is False


def test_users_permissions_and_an_auth_server_from_the_command_line(
    tmp_path: Path, stop: list[subprocess.Popen[str]]
) -> None:
    home = tmp_path / "home"
    made = tracelake_cli(
        "--home", str(home), "users", "create-admin", "root", "--password-stdin", stdin="root password 1\n"
    )
    assert made.returncode == 0, made.stderr
    assert "Created admin user root" in made.stdout
    weak = tracelake_cli("--home", str(home), "users", "create", "bob", "--password-stdin", stdin="short\n")
    assert weak.returncode != 0 and "at least 8 characters" in weak.stderr
    assert (
        tracelake_cli(
            "--home", str(home), "users", "create", "bob", "--password-stdin", stdin="bob password 1\n"
        ).returncode
        == 0
    )
    listed = tracelake_cli("--home", str(home), "users", "list")
    assert "root admin" in listed.stdout and "bob" in listed.stdout
    root_token = tracelake_cli("--home", str(home), "users", "create-token", "root").stdout.strip()
    assert root_token.startswith("tlp_")

    process, url = _start(home, "--auth")
    stop.append(process)
    assert "authentication ON" in process.banner  # type: ignore[attr-defined]
    assert httpx.get(url + "/api/v1/experiments").status_code == 401
    headers = {"Authorization": f"Bearer {root_token}"}
    experiment_id = httpx.post(url + "/api/v1/experiments", json={"name": "cli"}, headers=headers).json()["experiment"][
        "experiment_id"
    ]
    granted = tracelake_cli(
        "permissions",
        "grant",
        "bob",
        "CAN_READ",
        "--experiment-id",
        experiment_id,
        TRACELAKE_TRACKING_URI=url,
        TRACELAKE_TOKEN=root_token,
    )
    assert granted.returncode == 0, granted.stderr
    listed = tracelake_cli(
        "permissions", "list", "--experiment-id", experiment_id, TRACELAKE_TRACKING_URI=url, TRACELAKE_TOKEN=root_token
    )
    assert "CAN_READ" in listed.stdout and "bob" in listed.stdout
    bob_token = tracelake_cli("--home", str(home), "users", "create-token", "bob").stdout.strip()
    searched = tracelake_cli(
        "traces", "search", "--experiment-id", experiment_id, TRACELAKE_TRACKING_URI=url, TRACELAKE_TOKEN=bob_token
    )
    assert searched.returncode == 0, searched.stderr
    refused = tracelake_cli(
        "permissions",
        "grant",
        "bob",
        "CAN_MANAGE",
        "--experiment-id",
        experiment_id,
        TRACELAKE_TRACKING_URI=url,
        TRACELAKE_TOKEN=bob_token,
    )
    assert refused.returncode != 0 and "CAN_MANAGE" in refused.stderr
    anonymous = tracelake_cli("permissions", "list", "--experiment-id", experiment_id, TRACELAKE_TRACKING_URI=url)
    assert anonymous.returncode != 0 and "authentication required" in anonymous.stderr


def test_a_server_on_every_address_requires_auth_unless_told_otherwise(
    tmp_path: Path, stop: list[subprocess.Popen[str]]
) -> None:
    process, url = _start(tmp_path / "open", "--host", "0.0.0.0")
    stop.append(process)
    assert httpx.get(url + "/api/v1/experiments").status_code == 401
    assert "no admin yet" in process.banner  # type: ignore[attr-defined]
    insecure, insecure_url = _start(tmp_path / "insecure", "--host", "0.0.0.0", "--insecure-no-auth")
    stop.append(insecure)
    assert httpx.get(insecure_url + "/api/v1/experiments").status_code == 200
    assert "authentication is OFF" in insecure.banner  # type: ignore[attr-defined]
    both = tracelake_cli("--home", str(tmp_path / "x"), "server", "--port", "0", "--auth", "--insecure-no-auth")
    assert both.returncode == 2 and "contradict" in both.stderr
