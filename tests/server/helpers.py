"""Assertions shared by the server tests."""

from __future__ import annotations

from typing import Any

import httpx
from fastapi.testclient import TestClient


def assert_error(response: httpx.Response, status: int, code: str, *fragments: str) -> dict[str, Any]:
    """Check a JSON error response of docs/rest-api.md and return its `error` object."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    error: dict[str, Any] = response.json()["error"]
    assert error["code"] == code
    for fragment in fragments:
        assert fragment in error["message"]
    return error


def search(client: TestClient, **body: Any) -> list[dict[str, Any]]:
    """Return the trace summaries a search finds (all experiments unless `experiment_ids` is given)."""
    response = client.post("/api/v1/traces/search", json={"max_results": 1000, **body})
    assert response.status_code == 200, response.text
    return [trace["info"] for trace in response.json()["traces"]]


def experiments(client: TestClient) -> dict[str, str]:
    """Return the active experiments as {name: id}."""
    response = client.get("/api/v1/experiments")
    assert response.status_code == 200, response.text
    return {item["name"]: item["experiment_id"] for item in response.json()["experiments"]}


def still_serving(client: TestClient) -> None:
    assert client.get("/health").json()["status"] == "ok"
