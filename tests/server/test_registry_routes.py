"""`/api/v1/registered-models`: the model registry of docs/rest-api.md (SQLite and PostgreSQL)."""

from __future__ import annotations

import base64
import io
import tarfile
from pathlib import Path

from fastapi.testclient import TestClient

from tracelake.agents.packaging import build_package, read_manifest

from .helpers import assert_error, still_serving

NAME = "main.support.agent"
MODELS = "/api/v1/registered-models"


def _package(tmp_path: Path, text: str = "v1") -> str:
    agent = tmp_path / "agent.py"
    agent.write_text(f"# {text}\n", encoding="utf-8")
    package, _ = build_package(agent, ["openai>=1"], {"temperature": 0.2}, {"input": "hi"})
    return base64.b64encode(package).decode()


def test_versions_aliases_and_packages_over_rest(backend_client: TestClient, tmp_path: Path) -> None:
    first = backend_client.post(f"{MODELS}/{NAME}/versions", json={"package": _package(tmp_path), "source": "a.py"})
    assert first.status_code == 201, first.text
    assert first.json()["model_version"] | {"creation_time": 0, "last_update_time": 0, "artifact_uri": ""} == {
        "name": NAME,
        "version": 1,
        "artifact_uri": "",
        "status": "READY",
        "creation_time": 0,
        "last_update_time": 0,
        "source": "a.py",
        "description": None,
        "status_message": None,
        "tags": {},
        "aliases": [],
    }
    second = backend_client.post(
        f"{MODELS}/{NAME}/versions", json={"package": _package(tmp_path, "v2"), "tags": {"git": "abc"}}
    )
    assert second.json()["model_version"]["version"] == 2

    listed = backend_client.get(MODELS).json()["registered_models"]
    assert [(m["name"], m["latest_version"]) for m in listed] == [(NAME, 2)]
    versions = backend_client.get(f"{MODELS}/{NAME}/versions").json()["model_versions"]
    assert [(v["version"], v["tags"]) for v in versions] == [(2, {"git": "abc"}), (1, {})]
    assert backend_client.get(f"{MODELS}/{NAME}/versions/1").json()["model_version"]["source"] == "a.py"

    alias = backend_client.put(f"{MODELS}/{NAME}/aliases/champion", json={"version": 1})
    assert alias.status_code == 200
    assert alias.json()["model_version"]["aliases"] == ["champion"]
    assert backend_client.get(f"{MODELS}/{NAME}").json()["registered_model"]["aliases"] == {"champion": 1}
    assert backend_client.get(f"{MODELS}/{NAME}/aliases/champion").json()["model_version"]["version"] == 1
    assert backend_client.get(f"{MODELS}/{NAME}/aliases/latest").json()["model_version"]["version"] == 2

    download = backend_client.get(f"{MODELS}/{NAME}/versions/1/package")
    assert download.status_code == 200
    assert download.headers["content-type"] == "application/gzip"
    manifest = read_manifest(download.content)
    assert manifest.config == {"temperature": 0.2}
    assert manifest.input_example == {"input": "hi"}

    assert backend_client.delete(f"{MODELS}/{NAME}/aliases/champion").status_code == 204
    assert_error(backend_client.get(f"{MODELS}/{NAME}/aliases/champion"), 404, "NOT_FOUND", "no alias 'champion'")
    assert backend_client.delete(f"{MODELS}/{NAME}").status_code == 204
    assert backend_client.get(MODELS).json() == {"registered_models": []}


def test_create_a_model_then_a_conflict(client: TestClient) -> None:
    created = client.post(MODELS, json={"name": NAME, "description": "support", "tags": {"team": "care"}})
    assert created.status_code == 201
    assert created.json()["registered_model"]["latest_version"] is None
    assert_error(client.post(MODELS, json={"name": NAME}), 409, "CONFLICT", NAME)


def test_missing_things_are_404_naming_them(client: TestClient, tmp_path: Path) -> None:
    assert_error(client.get(f"{MODELS}/{NAME}"), 404, "NOT_FOUND", f"no registered model named '{NAME}'")
    assert_error(client.get(f"{MODELS}/{NAME}/versions"), 404, "NOT_FOUND")
    client.post(f"{MODELS}/{NAME}/versions", json={"package": _package(tmp_path)})
    assert_error(client.get(f"{MODELS}/{NAME}/versions/9"), 404, "NOT_FOUND", "has no version 9")
    assert_error(client.get(f"{MODELS}/{NAME}/versions/9/package"), 404, "NOT_FOUND")
    assert_error(client.put(f"{MODELS}/{NAME}/aliases/prod", json={"version": 9}), 404, "NOT_FOUND", "version 9")
    assert_error(client.delete(f"{MODELS}/{NAME}/aliases/prod"), 404, "NOT_FOUND", "no alias 'prod'")


def _tar(members: dict[str, bytes]) -> str:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return base64.b64encode(buffer.getvalue()).decode()


def test_bad_uploads_are_400_and_store_nothing(client: TestClient) -> None:
    path = f"{MODELS}/{NAME}/versions"
    assert_error(client.post(path, json={"package": "!!not base64!!"}), 400, "INVALID_ARGUMENT", "base64")
    not_tar = base64.b64encode(b"just bytes").decode()
    assert_error(client.post(path, json={"package": not_tar}), 400, "INVALID_ARGUMENT", ".tar.gz")
    no_manifest = _tar({"code/agent.py": b"x = 1"})
    assert_error(client.post(path, json={"package": no_manifest}), 400, "INVALID_ARGUMENT", "agent.json")
    escaping = _tar({"agent.json": b"{}", "../../etc/evil": b"x"})
    assert_error(client.post(path, json={"package": escaping}), 400, "INVALID_ARGUMENT", "unsafe path")
    assert_error(client.post(path, json={}), 400, "INVALID_ARGUMENT", "body field 'package'")
    assert_error(
        client.post("/api/v1/registered-models/not-three-parts/versions", json={"package": _tar({})}),
        400,
        "INVALID_ARGUMENT",
    )
    assert client.get(MODELS).json() == {"registered_models": []}
    still_serving(client)


def test_bad_aliases_and_versions_are_400(client: TestClient, tmp_path: Path) -> None:
    client.post(f"{MODELS}/{NAME}/versions", json={"package": _package(tmp_path)})
    assert_error(
        client.put(f"{MODELS}/{NAME}/aliases/latest", json={"version": 1}), 400, "INVALID_ARGUMENT", "reserved"
    )
    assert_error(client.put(f"{MODELS}/{NAME}/aliases/x", json={"version": 0}), 400, "INVALID_ARGUMENT", "version")
    assert_error(client.get(f"{MODELS}/{NAME}/versions/abc"), 400, "INVALID_ARGUMENT", "path parameter 'version'")
