"""The app as a whole: factory, lifespan, OpenAPI, request ids, errors, settings."""

from __future__ import annotations

import sys
import types
from dataclasses import replace
from pathlib import Path

import pytest
from fastapi import APIRouter
from fastapi.testclient import TestClient

from tracelake.exceptions import ConfigError
from tracelake.server import ServerSettings, create_app
from tracelake.server.app import create_app_from_environment
from tracelake.server.settings import SETTINGS_ENV
from tracelake.version import __version__

from .helpers import assert_error


def test_health(client: TestClient) -> None:
    response = client.get("/health")
    assert response.json() == {"status": "ok", "version": __version__}


def test_openapi_document_lists_the_rest_api(client: TestClient) -> None:
    document = client.get("/api/v1/openapi.json").json()
    paths = document["paths"]
    expected = {
        "/v1/traces": {"post"},
        "/api/v1/experiments": {"get", "post"},
        "/api/v1/experiments/{experiment_id}": {"get", "patch", "delete"},
        "/api/v1/experiments/by-name/{name}": {"get"},
        "/api/v1/traces/search": {"post"},
        "/api/v1/traces/{trace_id}": {"get"},
        "/api/v1/traces/batch-get": {"post"},
        "/api/v1/experiments/{experiment_id}/traces/by-client-request-id/{client_request_id}": {"get"},
        "/api/v1/traces/{trace_id}/tags/{key}": {"put", "delete"},
        "/api/v1/traces/delete": {"post"},
    }
    for path, methods in expected.items():
        assert methods <= set(paths[path]), path
    assert document["info"]["version"] == __version__
    assert "application/x-protobuf" in paths["/v1/traces"]["post"]["requestBody"]["content"]
    docs = client.get("/api/v1/docs")
    assert docs.status_code == 200
    assert "/api/v1/openapi.json" in docs.text


def test_every_response_carries_a_request_id(client: TestClient) -> None:
    generated = client.get("/health").headers["x-request-id"]
    assert len(generated) == 32
    assert client.get("/health", headers={"x-request-id": "abc-123"}).headers["x-request-id"] == "abc-123"
    # An id that could forge log lines or headers is replaced.
    assert client.get("/health", headers={"x-request-id": "a b\tc"}).headers["x-request-id"] != "a b\tc"
    assert client.get("/nowhere").headers["x-request-id"]


def test_unknown_routes_and_methods(client: TestClient) -> None:
    assert_error(client.get("/api/v1/nowhere"), 404, "NOT_FOUND", "no such route: GET /api/v1/nowhere")
    response = client.delete("/health")
    assert response.status_code == 405
    assert response.json()["error"]["message"] == "method DELETE is not allowed on /health"


def test_invalid_utf8_in_a_json_body(client: TestClient) -> None:
    response = client.post(
        "/api/v1/experiments", content=b'{"name": "caf\xe9"}', headers={"content-type": "application/json"}
    )
    assert_error(response, 400, "INVALID_ARGUMENT", "not valid UTF-8")
    assert client.get("/api/v1/experiments").json() == {"experiments": []}


def test_apps_are_independent_and_close_their_store(tmp_path: Path) -> None:
    first = create_app(ServerSettings.for_home(tmp_path / "a"))
    second = create_app(ServerSettings.for_home(tmp_path / "b"))
    with TestClient(first) as a, TestClient(second) as b:
        a.post("/api/v1/experiments", json={"name": "only-in-a"})
        assert [item["name"] for item in a.get("/api/v1/experiments").json()["experiments"]] == ["only-in-a"]
        assert b.get("/api/v1/experiments").json() == {"experiments": []}
    assert first.state.store is None
    assert (tmp_path / "a" / "tracelake.db").exists()


def test_a_request_outside_the_lifespan_is_unavailable(settings: ServerSettings) -> None:
    client = TestClient(create_app(settings))  # not entered: the store is not open
    response = client.get("/api/v1/experiments")
    assert_error(response, 503, "UNAVAILABLE", "not open")
    assert response.headers["retry-after"] == "1"


def test_optional_routers_are_included_when_their_module_exists(
    settings: ServerSettings, monkeypatch: pytest.MonkeyPatch
) -> None:
    module = types.ModuleType("tracelake.server.routes.metrics")
    router = APIRouter()

    @router.get("/api/v1/ping-metrics")
    async def ping() -> dict[str, bool]:
        return {"pong": True}

    module.router = router  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "tracelake.server.routes.metrics", module)
    with TestClient(create_app(settings)) as client:
        assert client.get("/api/v1/ping-metrics").json() == {"pong": True}


def test_a_broken_optional_router_is_an_error(settings: ServerSettings, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(name: str, *args: object, **kwargs: object) -> object:
        raise ModuleNotFoundError("No module named 'some_dependency'", name="some_dependency")

    monkeypatch.setattr("tracelake.server.app.importlib.import_module", broken)
    with pytest.raises(ModuleNotFoundError, match="some_dependency"):
        create_app(settings)


def test_settings_are_checked(tmp_path: Path) -> None:
    for bad in (
        {"max_body_bytes": 0},
        {"ingest_queue_size": -1},
        {"port": 70000},
        {"workers": True},
        {"ingest_concurrency": 0},
        {"ingest_concurrency": True},
    ):
        with pytest.raises(ConfigError, match=next(iter(bad))):
            ServerSettings.for_home(tmp_path, **bad)  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="database_url"):
        ServerSettings(database_url="", default_artifact_root="x")


def test_ingest_concurrency_depends_on_the_database_unless_set(tmp_path: Path) -> None:
    default = ServerSettings.for_home(tmp_path)
    assert (default.ingest_concurrency_for("sqlite"), default.ingest_concurrency_for("postgresql")) == (1, 4)
    chosen = ServerSettings.for_home(tmp_path, ingest_concurrency=3)
    assert (chosen.ingest_concurrency_for("sqlite"), chosen.ingest_concurrency_for("postgresql")) == (3, 3)
    assert ServerSettings.from_json(chosen.to_json()) == chosen


def test_settings_for_a_home_use_the_embedded_layout(tmp_path: Path) -> None:
    home = tmp_path / "odd ?#% name"
    settings = ServerSettings.for_home(home, port=8080, allowed_artifact_roots=["s3://bucket/x"])
    assert settings.default_artifact_root == str(home / "artifacts")
    assert settings.allowed_artifact_roots == ("s3://bucket/x",)
    assert settings.url == "http://127.0.0.1:8080"
    assert replace(settings, host="::1").url == "http://[::1]:8080"
    assert ServerSettings.from_json(settings.to_json()) == settings
    with TestClient(create_app(settings)) as client:
        assert client.get("/api/v1/experiments").status_code == 200
    assert (home / "tracelake.db").exists()


def test_workers_build_their_app_from_the_environment(
    settings: ServerSettings, monkeypatch: pytest.MonkeyPatch
) -> None:
    with pytest.raises(ConfigError, match=SETTINGS_ENV):
        create_app_from_environment()
    monkeypatch.setenv(SETTINGS_ENV, "{not json")
    with pytest.raises(ConfigError, match="does not hold server settings"):
        create_app_from_environment()
    monkeypatch.setenv(SETTINGS_ENV, settings.to_json())
    app = create_app_from_environment()
    assert app.state.settings == settings
