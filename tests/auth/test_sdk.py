"""The SDK against a server with auth: TRACELAKE_TOKEN, and TRACELAKE_CLIENT_ID + _SECRET with token renewal."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa

import tracelake
from tracelake.client import Client
from tracelake.exceptions import TracelakeError
from tracelake.store.sql.schema import auth_tokens

from .conftest import AuthServer


@tracelake.trace(span_type="AGENT")
def agent(question: str) -> str:
    return f"answer to {question}"


def _point_sdk(server: AuthServer, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, experiment: str) -> None:
    monkeypatch.setenv("TRACELAKE_TRACKING_URI", server.url)
    monkeypatch.setenv("TRACELAKE_EXPERIMENT_NAME", experiment)
    monkeypatch.setenv("TRACELAKE_EXPORT_INTERVAL_MS", "20")
    monkeypatch.setenv("TRACELAKE_HOME", str(tmp_path / "app"))


def test_the_sdk_exports_and_reads_with_a_personal_access_token(
    auth_server: AuthServer, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    _point_sdk(auth_server, monkeypatch, tmp_path, "alice-agent")
    monkeypatch.setenv("TRACELAKE_TOKEN", auth_server.user("alice"))
    assert agent("q1") == "answer to q1"
    assert tracelake.flush(30) is True
    (trace,) = tracelake.search_traces()
    assert trace.info.request_preview is not None and "q1" in trace.info.request_preview
    experiment = auth_server.store.get_experiment_by_name("alice-agent")
    assert experiment is not None and trace.info.experiment_id == experiment.experiment_id
    # Another user sees none of it.
    with Client(auth_server.url, token=auth_server.user("bob")) as bob:
        assert bob.search_traces().traces == []
        with pytest.raises(TracelakeError):
            bob.get_trace(trace.info.trace_id)


def test_the_sdk_without_credentials_is_refused_and_the_app_goes_on(
    auth_server: AuthServer, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    _point_sdk(auth_server, monkeypatch, tmp_path, "nobody")
    assert agent("q2") == "answer to q2"  # tracing never raises into the app
    assert tracelake.flush(30) is False
    assert auth_server.store.get_experiment_by_name("nobody") is None


def test_a_service_principal_exchanges_and_renews_its_token(
    auth_server: AuthServer, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    with auth_server.client(auth_server.user("alice")) as alice:
        experiment_id = alice.post("/api/v1/experiments", json={"name": "bot"}).json()["experiment"]["experiment_id"]
        created = alice.post("/api/v1/service-principals", json={"name": "bot"}).json()
        alice.put(f"/api/v1/permissions/experiment/{experiment_id}/{created['client_id']}", json={"level": "CAN_EDIT"})
    _point_sdk(auth_server, monkeypatch, tmp_path, "bot")
    monkeypatch.setenv("TRACELAKE_CLIENT_ID", created["client_id"])
    monkeypatch.setenv("TRACELAKE_CLIENT_SECRET", created["client_secret"])
    agent("first")
    assert tracelake.flush(30) is True
    # The server ends every access token (as if it expired early): the SDK gets a new one on the 401.
    with auth_server.store.engine.begin() as connection:
        connection.execute(sa.update(auth_tokens).where(auth_tokens.c.kind == "access").values(revoked_time=1))
    agent("second")
    assert tracelake.flush(30) is True
    infos = tracelake.search_traces(experiment_ids=[experiment_id])
    assert len(infos) == 2
    # CAN_EDIT on its experiment only: another experiment stays out of reach.
    with auth_server.client(auth_server.tokens["root"]) as root:
        other = root.post("/api/v1/experiments", json={"name": "other"}).json()["experiment"]["experiment_id"]
    bot = Client(auth_server.url, client_id=created["client_id"], client_secret=created["client_secret"])
    with bot, pytest.raises(TracelakeError, match="does not exist"):
        bot.get_experiment(other)
