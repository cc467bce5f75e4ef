"""`/api/v1/experiments`: the Experiments table of docs/rest-api.md."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from fastapi.testclient import TestClient

from tracelake.server import ServerSettings, create_app

from .helpers import assert_error


def test_create_get_list_rename_delete(backend_client: TestClient, backend_settings: ServerSettings) -> None:
    created = backend_client.post("/api/v1/experiments", json={"name": "support", "tags": {"team": "care"}})
    assert created.status_code == 201
    experiment = created.json()["experiment"]
    experiment_id = experiment["experiment_id"]
    assert experiment["name"] == "support"
    assert experiment["tags"] == {"team": "care"}
    assert experiment["lifecycle_stage"] == "active"
    assert experiment["artifact_location"].startswith(backend_settings.default_artifact_root)

    assert backend_client.get(f"/api/v1/experiments/{experiment_id}").json() == {"experiment": experiment}
    assert backend_client.get("/api/v1/experiments/by-name/support").json() == {"experiment": experiment}
    listed = backend_client.get("/api/v1/experiments").json()["experiments"]
    assert [item["name"] for item in listed] == ["support"]

    renamed = backend_client.patch(f"/api/v1/experiments/{experiment_id}", json={"name": "support-v2"})
    assert renamed.json()["experiment"]["name"] == "support-v2"
    assert backend_client.get("/api/v1/experiments/by-name/support").status_code == 404

    assert backend_client.delete(f"/api/v1/experiments/{experiment_id}").status_code == 204
    assert backend_client.get("/api/v1/experiments").json() == {"experiments": []}
    deleted = backend_client.get("/api/v1/experiments", params={"include_deleted": "true"}).json()["experiments"]
    assert [(item["name"], item["lifecycle_stage"]) for item in deleted] == [("support-v2", "deleted")]
    # The name of a deleted experiment is free again.
    assert backend_client.post("/api/v1/experiments", json={"name": "support-v2"}).status_code == 201


def test_a_taken_name_is_a_conflict(client: TestClient) -> None:
    assert client.post("/api/v1/experiments", json={"name": "a"}).status_code == 201
    assert_error(client.post("/api/v1/experiments", json={"name": "a"}), 409, "CONFLICT", "'a'")
    second = client.post("/api/v1/experiments", json={"name": "b"}).json()["experiment"]["experiment_id"]
    assert_error(client.patch(f"/api/v1/experiments/{second}", json={"name": "a"}), 409, "CONFLICT")


def test_missing_experiments_are_not_found(client: TestClient) -> None:
    assert_error(client.get("/api/v1/experiments/99"), 404, "NOT_FOUND", "99")
    assert_error(client.get("/api/v1/experiments/by-name/nope"), 404, "NOT_FOUND", "'nope'")
    assert_error(client.patch("/api/v1/experiments/99", json={"name": "x"}), 404, "NOT_FOUND")
    assert_error(client.delete("/api/v1/experiments/99"), 404, "NOT_FOUND")


def test_invalid_arguments_name_the_field(client: TestClient) -> None:
    assert_error(client.get("/api/v1/experiments/abc"), 400, "INVALID_ARGUMENT", "path parameter 'experiment_id'")
    assert_error(
        client.post("/api/v1/experiments", json={}), 400, "INVALID_ARGUMENT", "body field 'name': Field required"
    )
    assert_error(client.post("/api/v1/experiments", json={"name": " "}), 400, "INVALID_ARGUMENT", "'name'")
    assert_error(
        client.post("/api/v1/experiments", json={"name": "x", "colour": "red"}),
        400,
        "INVALID_ARGUMENT",
        "body field 'colour'",
    )
    assert_error(client.post("/api/v1/experiments", json={"name": "x" * 501}), 400, "INVALID_ARGUMENT", "'name'")
    assert client.get("/api/v1/experiments").json() == {"experiments": []}


def test_artifact_locations_stay_under_the_allowed_roots(tmp_path: Path, settings: ServerSettings) -> None:
    shared = tmp_path / "shared"
    allowed = replace(settings, allowed_artifact_roots=(settings.default_artifact_root, str(shared)))
    with TestClient(create_app(allowed)) as client:
        inside = client.post("/api/v1/experiments", json={"name": "a", "artifact_location": str(shared / "a")})
        assert inside.status_code == 201, inside.text
        assert inside.json()["experiment"]["artifact_location"] == str(shared / "a")

        for location in ("/etc", str(tmp_path / "elsewhere"), str(shared / ".." / "escape"), "ftp://host/x"):
            response = client.post("/api/v1/experiments", json={"name": "b", "artifact_location": location})
            assert_error(response, 400, "INVALID_ARGUMENT", "artifact_location")

        experiment_id = inside.json()["experiment"]["experiment_id"]
        moved = client.patch(f"/api/v1/experiments/{experiment_id}", json={"artifact_location": str(shared / "b")})
        assert moved.json()["experiment"]["artifact_location"] == str(shared / "b")
        refused = client.patch(f"/api/v1/experiments/{experiment_id}", json={"artifact_location": "/tmp"})
        assert_error(refused, 400, "INVALID_ARGUMENT", "outside the allowed artifact roots")
        assert [item["name"] for item in client.get("/api/v1/experiments").json()["experiments"]] == ["a"]


def test_a_symlink_out_of_a_root_is_refused(tmp_path: Path, settings: ServerSettings) -> None:
    root = Path(settings.default_artifact_root)
    root.mkdir(parents=True)
    (root / "link").symlink_to(tmp_path / "outside", target_is_directory=True)
    with TestClient(create_app(settings)) as client:
        response = client.post("/api/v1/experiments", json={"name": "a", "artifact_location": str(root / "link" / "x")})
        assert_error(response, 400, "INVALID_ARGUMENT", "outside")
