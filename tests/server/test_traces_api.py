"""`/api/v1/traces`: the Traces table of docs/rest-api.md."""

from __future__ import annotations

import base64
import json

import pytest
from fastapi.testclient import TestClient

from tracelake.store import SqlTraceStore

from .helpers import assert_error, search
from .otlp_data import PROTOBUF, T0, protobuf, request, spans, trace_id


def _load(client: TestClient) -> TestClient:
    body = protobuf(*(spans(t) for t in range(1, 6)))
    headers = {**PROTOBUF, "x-tracelake-experiment-name": "agent"}
    assert client.post("/v1/traces", content=body, headers=headers).status_code == 200
    return client


@pytest.fixture
def loaded(backend_client: TestClient) -> TestClient:
    """Five traces of three spans in experiment 'agent', on each database backend."""
    return _load(backend_client)


@pytest.fixture
def loaded_sqlite(client: TestClient) -> TestClient:
    """The same on SQLite only, for requests refused before any SQL is built."""
    return _load(client)


def test_search_filters_orders_and_pages(loaded: TestClient) -> None:
    experiment_id = loaded.get("/api/v1/experiments/by-name/agent").json()["experiment"]["experiment_id"]
    body = {"experiment_ids": [experiment_id], "order_by": ["timestamp_ms ASC"], "max_results": 2}
    pages, token = [], None
    while True:
        response = loaded.post("/api/v1/traces/search", json={**body, "page_token": token})
        assert response.status_code == 200
        page = response.json()
        pages.append([trace["info"]["trace_id"] for trace in page["traces"]])
        assert all(trace["data"]["spans"] == [] for trace in page["traces"])
        token = page["next_page_token"]
        if token is None:
            break
    assert pages == [[trace_id(1), trace_id(2)], [trace_id(3), trace_id(4)], [trace_id(5)]]

    since = (T0 + 3 * 1_000_000_000) // 1_000_000
    found = search(loaded, filter=f"timestamp_ms >= {since} AND span.name = 'tool_2'")
    assert sorted(info["trace_id"] for info in found) == [trace_id(3), trace_id(4), trace_id(5)]
    with_spans = loaded.post(
        "/api/v1/traces/search", json={"filter": f"trace_id = '{trace_id(2)}'", "include_spans": True}
    )
    [trace] = with_spans.json()["traces"]
    assert [span["name"] for span in trace["data"]["spans"]] == ["agent", "tool_1", "tool_2"]


def test_search_of_an_unknown_experiment_finds_nothing(client: TestClient) -> None:
    assert search(client, experiment_ids=["12345"]) == []


@pytest.mark.parametrize(
    ("body", "fragment", "position"),
    [
        ({"filter": "status = 'OK'; DROP TABLE traces"}, "unexpected character ';'", 13),
        ({"filter": "status = 'OK' OR 1=1"}, "", 17),
        ({"filter": "name = 'x' UNION SELECT * FROM experiments"}, "unexpected character '*'", 24),
        ({"filter": "colour = 'red'"}, "unknown field 'colour'", 0),
        ({"order_by": ["timestamp_ms; DELETE FROM traces"]}, "unexpected character ';'", 12),
        ({"experiment_ids": ["1 OR 1=1"]}, "not a valid id", None),
    ],
)
def test_sql_in_a_query_is_refused_with_its_position(
    loaded_sqlite: TestClient, body: dict[str, object], fragment: str, position: int | None
) -> None:
    response = loaded_sqlite.post("/api/v1/traces/search", json=body)
    error = assert_error(response, 400, "INVALID_ARGUMENT", fragment)
    assert error.get("position") == position
    assert len(search(loaded_sqlite)) == 5  # nothing dropped, nothing deleted


def test_a_tampered_page_token_is_refused(loaded_sqlite: TestClient) -> None:
    loaded = loaded_sqlite
    first = loaded.post("/api/v1/traces/search", json={"max_results": 2}).json()
    token = first["next_page_token"]
    payload = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
    payload["k"][0] = "1; DROP TABLE traces"
    forged = base64.urlsafe_b64encode(json.dumps(payload).encode()).decode().rstrip("=")
    for bad in (forged, token[:-3], "not-a-token"):
        response = loaded.post("/api/v1/traces/search", json={"max_results": 2, "page_token": bad})
        assert_error(response, 400, "INVALID_ARGUMENT", "page token")
    other_query = loaded.post(
        "/api/v1/traces/search", json={"max_results": 2, "page_token": token, "filter": "name = 'x'"}
    )
    assert_error(other_query, 400, "INVALID_ARGUMENT", "different query")
    assert len(search(loaded)) == 5


def test_request_fields_are_validated(client: TestClient) -> None:
    cases = [
        ({"max_results": 0}, "body field 'max_results'"),
        ({"max_results": "many"}, "body field 'max_results'"),
        ({"filter_string": "x"}, "body field 'filter_string'"),
        ({"order_by": "timestamp_ms"}, "body field 'order_by'"),
    ]
    for body, fragment in cases:
        assert_error(client.post("/api/v1/traces/search", json=body), 400, "INVALID_ARGUMENT", fragment)
    response = client.post("/api/v1/traces/search", content=b"{not json", headers={"content-type": "application/json"})
    assert_error(response, 400, "INVALID_ARGUMENT", "not valid JSON")


def test_get_a_trace_with_or_without_spans(loaded: TestClient) -> None:
    trace = loaded.get(f"/api/v1/traces/{trace_id(2)}").json()["trace"]
    assert trace["info"]["trace_id"] == trace_id(2)
    assert trace["info"]["assessments"] == []
    assert [span["span_id"] for span in trace["data"]["spans"]] == [f"{2:08x}{n:08x}" for n in (1, 2, 3)]
    assert trace["data"]["spans"][0]["inputs"] == {"question": "q2"}

    summary = loaded.get(f"/api/v1/traces/{trace_id(2).upper()}", params={"include_spans": "false"}).json()["trace"]
    assert summary["info"]["trace_id"] == trace_id(2)
    assert summary["data"]["spans"] == []


def test_missing_and_invalid_trace_ids(client: TestClient) -> None:
    assert_error(client.get(f"/api/v1/traces/{trace_id(99)}"), 404, "NOT_FOUND", trace_id(99))
    assert_error(client.get("/api/v1/traces/not!an*id"), 400, "INVALID_ARGUMENT", "not a valid trace id")
    assert_error(client.get("/api/v1/traces/" + "a" * 40), 400, "INVALID_ARGUMENT", "not a valid trace id")


def test_batch_get(loaded: TestClient) -> None:
    ids = [trace_id(3), trace_id(99), trace_id(1), trace_id(3)]
    traces = loaded.post("/api/v1/traces/batch-get", json={"trace_ids": ids}).json()["traces"]
    assert [trace["info"]["trace_id"] for trace in traces] == [trace_id(3), trace_id(1)]
    assert all(len(trace["data"]["spans"]) == 3 for trace in traces)
    bare = loaded.post("/api/v1/traces/batch-get", json={"trace_ids": [trace_id(1)], "include_spans": False})
    assert bare.json()["traces"][0]["data"]["spans"] == []
    too_many = loaded.post("/api/v1/traces/batch-get", json={"trace_ids": [trace_id(1)] * 1001})
    assert_error(too_many, 400, "INVALID_ARGUMENT", "'trace_ids'")


def test_by_client_request_id(backend_client: TestClient) -> None:
    message = request(spans(8), resource={"tracelake.experiment.name": "agent"})
    root = message.resource_spans[0].scope_spans[0].spans[0]
    root.attributes.add(key="tracelake.trace.metadata").value.string_value = json.dumps({"client_request_id": "req-42"})
    assert backend_client.post("/v1/traces", content=message.SerializeToString(), headers=PROTOBUF).status_code == 200
    experiment_id = backend_client.get("/api/v1/experiments/by-name/agent").json()["experiment"]["experiment_id"]

    response = backend_client.get(f"/api/v1/experiments/{experiment_id}/traces/by-client-request-id/req-42")
    assert response.status_code == 200, response.text
    trace = response.json()["trace"]
    assert trace["info"]["trace_id"] == trace_id(8)
    assert trace["info"]["client_request_id"] == "req-42"
    assert trace["data"]["spans"] == []
    missing = backend_client.get(f"/api/v1/experiments/{experiment_id}/traces/by-client-request-id/req-43")
    assert_error(missing, 404, "NOT_FOUND", "req-43")
    assert_error(backend_client.get("/api/v1/experiments/777/traces/by-client-request-id/req-42"), 404, "NOT_FOUND")


def test_tags(loaded: TestClient, backend_store: SqlTraceStore) -> None:
    url = f"/api/v1/traces/{trace_id(1)}/tags/review.status"
    assert loaded.put(url, json={"value": "done"}).status_code == 204
    assert loaded.put(f"/api/v1/traces/{trace_id(1)}/tags/a/b", json={"value": "slash"}).status_code == 204
    assert backend_store.get_trace_info(trace_id(1)).tags == {"review.status": "done", "a/b": "slash"}
    assert [info["trace_id"] for info in search(loaded, filter="tags.`review.status` = 'done'")] == [trace_id(1)]

    assert loaded.delete(url).status_code == 204
    assert backend_store.get_trace_info(trace_id(1)).tags == {"a/b": "slash"}
    assert_error(loaded.delete(url), 404, "NOT_FOUND")
    assert_error(loaded.put(f"/api/v1/traces/{trace_id(99)}/tags/x", json={"value": "v"}), 404, "NOT_FOUND")
    assert_error(loaded.put(url, json={"value": 3}), 400, "INVALID_ARGUMENT", "body field 'value'")


def test_delete_by_ids_and_by_age(loaded: TestClient) -> None:
    experiment_id = loaded.get("/api/v1/experiments/by-name/agent").json()["experiment"]["experiment_id"]
    by_ids = {"experiment_id": experiment_id, "trace_ids": [trace_id(1), trace_id(99)]}
    assert loaded.post("/api/v1/traces/delete", json=by_ids).json() == {"deleted": 1}
    cutoff = (T0 + 4 * 1_000_000_000) // 1_000_000
    by_age = {"experiment_id": experiment_id, "max_timestamp_ms": cutoff, "max_traces": 2}
    assert loaded.post("/api/v1/traces/delete", json=by_age).json() == {"deleted": 2}
    assert [info["trace_id"] for info in search(loaded)] == [trace_id(5), trace_id(4)]
    assert_error(loaded.get(f"/api/v1/traces/{trace_id(2)}"), 404, "NOT_FOUND")


def test_delete_arguments_are_checked(loaded_sqlite: TestClient) -> None:
    loaded = loaded_sqlite
    cases = [
        ({"experiment_id": "1"}, 400, "needs max_timestamp_ms or trace_ids"),
        ({"experiment_id": "1", "max_timestamp_ms": 1, "trace_ids": []}, 400, "only one of"),
        ({"experiment_id": "x", "max_timestamp_ms": 1}, 400, "'experiment_id'"),
        ({"experiment_id": "1", "trace_ids": ["bad id!"]}, 400, "not a valid trace id"),
        ({"experiment_id": "404", "max_timestamp_ms": 1}, 404, "404"),
    ]
    for body, status, fragment in cases:
        response = loaded.post("/api/v1/traces/delete", json=body)
        assert_error(response, status, "NOT_FOUND" if status == 404 else "INVALID_ARGUMENT", fragment)
    assert len(search(loaded)) == 5
