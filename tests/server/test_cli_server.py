"""`tracelake server` and `tracelake db upgrade` on the command line (in-process, not serving)."""

from __future__ import annotations

import os
import socket
from pathlib import Path

import pytest

from tracelake.cli import main
from tracelake.cli._parser import build_parser
from tracelake.cli.server import build_settings, default_workers
from tracelake.server.settings import DEFAULT_MAX_BODY_BYTES, ServerSettings
from tracelake.store import open_embedded_store


def settings_for(*argv: str) -> ServerSettings:
    return build_settings(build_parser().parse_args(list(argv)))


def test_defaults_are_the_embedded_store_of_the_home(tmp_path: Path) -> None:
    home = tmp_path / "home"
    settings = settings_for("--home", str(home), "server")
    assert settings.database_url == f"sqlite:///{home / 'tracelake.db'}"
    assert settings.default_artifact_root == str(home / "artifacts")
    assert (settings.host, settings.port, settings.workers) == ("127.0.0.1", 5000, default_workers())
    assert settings.max_body_bytes == DEFAULT_MAX_BODY_BYTES


def test_the_default_is_one_server_process_per_cpu_at_most_four(monkeypatch: pytest.MonkeyPatch) -> None:
    for cpus, workers in ((1, 1), (2, 2), (3, 3), (64, 4)):
        monkeypatch.setattr(os, "sched_getaffinity", lambda _pid, cpus=cpus: set(range(cpus)), raising=False)
        assert default_workers() == workers


def test_home_comes_from_the_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRACELAKE_HOME", str(tmp_path / "env-home"))
    settings = settings_for("server")
    assert settings.default_artifact_root == str(tmp_path / "env-home" / "artifacts")


def test_a_tracking_uri_naming_a_server_is_not_the_servers_database(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TRACELAKE_TRACKING_URI", "http://127.0.0.1:5000")
    settings = settings_for("--home", str(tmp_path), "server")
    assert settings.database_url == f"sqlite:///{tmp_path / 'tracelake.db'}"


def test_every_option(tmp_path: Path) -> None:
    settings = settings_for(
        "server",
        "--host",
        "0.0.0.0",
        "--port",
        "8080",
        "--database",
        "postgresql://user@db/tracelake",
        "--artifacts",
        str(tmp_path / "payloads"),
        "--allowed-artifact-root",
        "s3://bucket/team",
        "--allowed-artifact-root",
        str(tmp_path / "more"),
        "--workers",
        "3",
        "--max-body-bytes",
        "1000",
        "--ingest-queue",
        "4",
        "--ingest-concurrency",
        "2",
    )
    assert settings.database_url == "postgresql://user@db/tracelake"
    assert settings.default_artifact_root == str(tmp_path / "payloads")
    assert settings.allowed_artifact_roots == ("s3://bucket/team", str(tmp_path / "more"))
    assert settings.url == "http://0.0.0.0:8080"
    assert (settings.workers, settings.max_body_bytes, settings.ingest_queue_size) == (3, 1000, 4)
    assert settings.ingest_concurrency == 2


def test_db_upgrade_creates_and_migrates(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    home = tmp_path / "home"
    assert main(["--home", str(home), "db", "upgrade"]) == 0
    assert "is at schema revision" in capsys.readouterr().out
    assert (home / "tracelake.db").exists()
    with open_embedded_store(home) as store:  # already current: opens without migrating again
        assert store.list_experiments() == []

    other = tmp_path / "other.db"
    assert main(["db", "upgrade", "--database", f"sqlite:///{other}"]) == 0
    assert other.exists()


def test_db_upgrade_refuses_a_server_url(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["db", "upgrade", "--database", "http://localhost:5000"]) == 2
    assert "names a server" in capsys.readouterr().err


def test_an_unreachable_database_fails_before_listening(capsys: pytest.CaptureFixture[str]) -> None:
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    code = main(["server", "--port", "0", "--database", f"postgresql://postgres@127.0.0.1:{port}/x"])
    captured = capsys.readouterr()
    assert code == 1
    assert "listening" not in captured.out
    [line] = captured.err.strip().splitlines()
    assert line.startswith("tracelake: error:")


def test_a_port_in_use_is_reported(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        code = main(["--home", str(tmp_path), "server", "--port", str(port)])
    assert code == 1
    assert f"cannot listen on 127.0.0.1:{port}" in capsys.readouterr().err


def test_invalid_settings_are_usage_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--home", str(tmp_path), "server", "--port", "99999"]) == 2
    assert "port=99999" in capsys.readouterr().err
