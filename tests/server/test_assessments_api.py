"""The assessments routes of docs/rest-api.md, on SQLite and PostgreSQL.

The router is mounted on a small app that provides the store the way `create_app` does
(`app.state.store`, read by `tracelake.server.deps.get_store`) and maps errors with the server's own
handlers; one test checks that the real app serves the same routes.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi import FastAPI
from fastapi.testclient import TestClient

from tracelake.model import Span, SpanStatus, StatusCode, TraceBatch, TraceFields
from tracelake.server import ServerSettings, create_app
from tracelake.server.errors import install_error_handlers
from tracelake.server.routes.assessments import router
from tracelake.store import SqlTraceStore
from tracelake.store.sql.schema import assessments

from .helpers import assert_error

T0_NS = 1_700_000_000_000 * 1_000_000
TRACE = "0af7651916cd43dd8448eb211c80319c"
OTHER = "1bf7651916cd43dd8448eb211c80319d"
ROOT, CHILD = "b7ad6b7169203331", "c7ad6b7169203332"
THUMBS_DOWN = {
    "name": "user_feedback",
    "kind": "feedback",
    "value": False,
    "rationale": "it answered about the wrong order",
    "source": {"source_type": "HUMAN", "source_id": "user-42"},
}


def trace_batch(trace_id: str, client_request_id: str | None = None) -> TraceBatch:
    def span(span_id: str, parent: str | None, offset_ms: int) -> Span:
        start = T0_NS + offset_ms * 1_000_000
        return Span(
            trace_id,
            span_id,
            parent,
            f"span-{span_id[:4]}",
            "CHAIN",
            start,
            start + 5_000_000,
            SpanStatus(StatusCode.OK),
        )

    return TraceBatch(
        trace_id, [span(ROOT, None, 0), span(CHILD, ROOT, 1)], TraceFields(client_request_id=client_request_id)
    )


@pytest.fixture
def api(backend_settings: ServerSettings) -> Iterator[tuple[TestClient, SqlTraceStore, str]]:
    """(client, store, experiment id): the router on an app of its own, with traces TRACE and OTHER."""
    store = SqlTraceStore(backend_settings.database_url, backend_settings.default_artifact_root)
    try:
        experiment_id = store.create_experiment("support-agent").experiment_id
        store.write_batches(experiment_id, [trace_batch(TRACE, "req-1"), trace_batch(OTHER)])
        app = FastAPI()
        app.state.store = store
        install_error_handlers(app, retry_after=1)
        app.include_router(router)
        with TestClient(app) as client:
            yield client, store, experiment_id
    finally:
        store.close()


def stored_count(store: SqlTraceStore) -> int:
    return int(store.execute_read(sa.select(sa.func.count()).select_from(assessments))[0][0])


def create(client: TestClient, body: dict[str, Any], trace_id: str = TRACE) -> dict[str, Any]:
    response = client.post(f"/api/v1/traces/{trace_id}/assessments", json=body)
    assert response.status_code == 201, response.text
    assessment: dict[str, Any] = response.json()["assessment"]
    return assessment


def test_create_get_list_update_delete(api: tuple[TestClient, SqlTraceStore, str]) -> None:
    client, store, experiment_id = api

    created = create(client, {**THUMBS_DOWN, "span_id": CHILD, "metadata": {"channel": "web"}})
    expected = create(client, {"name": "expected_response", "kind": "expectation", "value": {"order": "o-2"}})

    assert created["assessment_id"].startswith("a-")
    assert created["trace_id"] == TRACE
    assert created["experiment_id"] == experiment_id
    assert (created["value"], created["span_id"], created["metadata"]) == (False, CHILD, {"channel": "web"})
    assert expected["source"] == {"source_type": "CODE", "source_id": "default"}
    url = f"/api/v1/traces/{TRACE}/assessments"
    assert client.get(f"{url}/{created['assessment_id']}").json() == {"assessment": created}
    listed = client.get(url).json()["assessments"]
    assert [a["assessment_id"] for a in listed] == [created["assessment_id"], expected["assessment_id"]]

    patched = client.patch(f"{url}/{created['assessment_id']}", json={"value": True, "rationale": None})
    assert patched.status_code == 200, patched.text
    updated = patched.json()["assessment"]
    assert (updated["value"], updated["rationale"], updated["metadata"]) == (True, None, {"channel": "web"})
    assert updated["last_update_time_ms"] >= created["last_update_time_ms"]
    assert updated["create_time_ms"] == created["create_time_ms"]

    deleted = client.delete(f"{url}/{created['assessment_id']}")
    assert deleted.status_code == 204
    assert deleted.content == b""
    assert [a["assessment_id"] for a in client.get(url).json()["assessments"]] == [expected["assessment_id"]]
    assert [a.assessment_id for a in store.get_trace_info(TRACE).assessments] == [expected["assessment_id"]]


def test_create_by_client_request_id(api: tuple[TestClient, SqlTraceStore, str]) -> None:
    client, store, experiment_id = api

    response = client.post(
        f"/api/v1/experiments/{experiment_id}/assessments", json={**THUMBS_DOWN, "client_request_id": "req-1"}
    )

    assert response.status_code == 201, response.text
    assert response.json()["assessment"]["trace_id"] == TRACE
    missing = client.post(
        f"/api/v1/experiments/{experiment_id}/assessments", json={**THUMBS_DOWN, "client_request_id": "req-9"}
    )
    assert_error(missing, 404, "NOT_FOUND", "'req-9'")
    without = client.post(f"/api/v1/experiments/{experiment_id}/assessments", json=THUMBS_DOWN)
    assert_error(without, 400, "INVALID_ARGUMENT", "'client_request_id'")
    elsewhere = client.post(
        "/api/v1/experiments/987654/assessments", json={**THUMBS_DOWN, "client_request_id": "req-1"}
    )
    assert_error(elsewhere, 404, "NOT_FOUND", "experiment")
    assert stored_count(store) == 1


def test_trace_ids_are_case_insensitive(api: tuple[TestClient, SqlTraceStore, str]) -> None:
    client, _, _ = api

    created = create(client, THUMBS_DOWN, trace_id=TRACE.upper())

    assert created["trace_id"] == TRACE


def test_not_found(api: tuple[TestClient, SqlTraceStore, str]) -> None:
    client, store, _ = api
    missing_trace = "f" * 32
    on_other = create(client, THUMBS_DOWN, trace_id=OTHER)["assessment_id"]

    assert_error(
        client.post(f"/api/v1/traces/{missing_trace}/assessments", json=THUMBS_DOWN), 404, "NOT_FOUND", missing_trace
    )
    assert_error(client.get(f"/api/v1/traces/{missing_trace}/assessments"), 404, "NOT_FOUND", "no trace")
    for method in ("GET", "PATCH", "DELETE"):
        kwargs: dict[str, Any] = {"json": {"value": 1}} if method == "PATCH" else {}
        url = f"/api/v1/traces/{TRACE}/assessments/{on_other}"  # exists, but on another trace
        assert_error(client.request(method, url, **kwargs), 404, "NOT_FOUND", "has no assessment")
        url = f"/api/v1/traces/{missing_trace}/assessments/{on_other}"
        assert_error(client.request(method, url, **kwargs), 404, "NOT_FOUND", "no trace")
    assert stored_count(store) == 1


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({**THUMBS_DOWN, "name": ""}, "'name'"),
        ({**THUMBS_DOWN, "name": "n" * 251}, "'name'"),
        ({**THUMBS_DOWN, "kind": "vote"}, "'kind'"),
        ({k: v for k, v in THUMBS_DOWN.items() if k != "value"}, "'value'"),
        ({**THUMBS_DOWN, "source": {"source_type": "ROBOT", "source_id": "r"}}, "'source.source_type'"),
        ({**THUMBS_DOWN, "span_id": "d7ad6b7169203333"}, "'span_id'"),
        ({**THUMBS_DOWN, "metadata": {"k": 3}}, "'metadata.k'"),
        ({**THUMBS_DOWN, "metadata": "k=v"}, "'metadata'"),
        ({**THUMBS_DOWN, "kind": "expectation", "error": {"error_code": "E"}}, "'error'"),
        ({**THUMBS_DOWN, "rating": 5}, "'rating'"),
        ({**THUMBS_DOWN, "rationale": "nul\u0000byte"}, "'rationale'"),
    ],
)
def test_invalid_input_is_a_400_naming_the_field(
    api: tuple[TestClient, SqlTraceStore, str], body: dict[str, Any], field: str
) -> None:
    client, store, _ = api

    response = client.post(f"/api/v1/traces/{TRACE}/assessments", json=body)

    assert_error(response, 400, "INVALID_ARGUMENT", field)
    assert stored_count(store) == 0


def test_bodies_that_are_not_objects(api: tuple[TestClient, SqlTraceStore, str]) -> None:
    client, store, _ = api
    url = f"/api/v1/traces/{TRACE}/assessments"

    assert_error(client.post(url, json=[THUMBS_DOWN]), 400, "INVALID_ARGUMENT")
    assert_error(
        client.post(url, content=b"{not json", headers={"content-type": "application/json"}), 400, "INVALID_ARGUMENT"
    )
    assert stored_count(store) == 0


def test_invalid_patch_changes_nothing(api: tuple[TestClient, SqlTraceStore, str]) -> None:
    client, _, _ = api
    expectation = create(client, {"name": "expected", "kind": "expectation", "value": "o-2"})
    url = f"/api/v1/traces/{TRACE}/assessments/{expectation['assessment_id']}"

    assert_error(client.patch(url, json={}), 400, "INVALID_ARGUMENT", "at least one")
    assert_error(client.patch(url, json={"name": "renamed"}), 400, "INVALID_ARGUMENT", "'name'")
    assert_error(
        client.patch(url, json={"value": "x", "error": {"error_code": "E"}}), 400, "INVALID_ARGUMENT", "'error'"
    )
    assert_error(client.patch(url, json={"value": None}), 400, "INVALID_ARGUMENT", "'value'")
    assert client.get(url).json()["assessment"] == expectation


def test_deleting_the_trace_deletes_its_assessments(api: tuple[TestClient, SqlTraceStore, str]) -> None:
    client, store, experiment_id = api
    create(client, THUMBS_DOWN)
    create(client, THUMBS_DOWN, trace_id=OTHER)

    store.delete_traces(experiment_id, trace_ids=[TRACE])

    assert_error(client.get(f"/api/v1/traces/{TRACE}/assessments"), 404, "NOT_FOUND")
    assert stored_count(store) == 1


def test_the_server_app_serves_the_routes(settings: ServerSettings) -> None:
    with TestClient(create_app(settings)) as client:
        store: SqlTraceStore = client.app.state.store  # type: ignore[attr-defined]
        experiment_id = store.create_experiment("served").experiment_id
        store.write_batches(experiment_id, [trace_batch(TRACE, "req-1")])

        created = create(client, THUMBS_DOWN)
        trace = client.get(f"/api/v1/traces/{TRACE}").json()["trace"]
        by_request = client.get(f"/api/v1/experiments/{experiment_id}/traces/by-client-request-id/req-1").json()
        paths = client.get("/api/v1/openapi.json").json()["paths"]

    assert [a["assessment_id"] for a in trace["info"]["assessments"]] == [created["assessment_id"]]
    assert [a["assessment_id"] for a in by_request["trace"]["info"]["assessments"]] == [created["assessment_id"]]
    assert {"post", "get"} <= set(paths["/api/v1/traces/{trace_id}/assessments"])
    body_schema = paths["/api/v1/traces/{trace_id}/assessments"]["post"]["requestBody"]["content"]["application/json"]
    assert body_schema["schema"]["required"] == ["name", "kind", "value"]
    assert {"get", "patch", "delete"} <= set(paths["/api/v1/traces/{trace_id}/assessments/{assessment_id}"])
    assert "post" in paths["/api/v1/experiments/{experiment_id}/assessments"]
