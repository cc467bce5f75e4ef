"""Bad OTLP requests get a clear 4xx JSON error, write nothing, and leave the server serving."""

from __future__ import annotations

import asyncio
import gzip
import json
import threading
from collections.abc import AsyncIterator, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from tracelake.exceptions import NotFoundError
from tracelake.server import ServerSettings, create_app
from tracelake.server.routes import otlp as otlp_route
from tracelake.store import SqlTraceStore

from .helpers import assert_error, experiments, search, still_serving
from .otlp_data import JSON, PROTOBUF, otlp_json, protobuf, spans, trace_id

LIMIT = 4096


@pytest.fixture
def small_client(settings: ServerSettings) -> Iterator[TestClient]:
    """A server that takes bodies of at most LIMIT bytes."""
    with TestClient(create_app(replace(settings, max_body_bytes=LIMIT))) as test_client:
        yield test_client


def assert_nothing_written(client: TestClient) -> None:
    assert search(client) == []
    assert experiments(client) == {}
    still_serving(client)
    # ... and the next good request is served as usual.
    assert client.post("/v1/traces", content=protobuf(spans(1)), headers=PROTOBUF).status_code == 200
    assert [info["trace_id"] for info in search(client)] == [trace_id(1)]


@pytest.mark.parametrize(
    ("content", "headers", "status", "code", "fragment"),
    [
        (b"\x0a\xff\x01", PROTOBUF, 400, "INVALID_ARGUMENT", "malformed protobuf"),
        (b"definitely not protobuf", PROTOBUF, 400, "INVALID_ARGUMENT", "malformed protobuf"),
        (b'{"resourceSpans": [', JSON, 400, "INVALID_ARGUMENT", "not valid JSON"),
        (b'{"resourceSpans": 7}', JSON, 400, "INVALID_ARGUMENT", "resourceSpans must be a list"),
        (b'{"resourceSpans": [], "x": "caf\xe9"}', JSON, 400, "INVALID_ARGUMENT", "not valid UTF-8"),
        (b"{}", {"content-type": "text/plain"}, 415, "UNSUPPORTED_MEDIA_TYPE", "unsupported Content-Type 'text/plain'"),
        (b"{}", {}, 415, "UNSUPPORTED_MEDIA_TYPE", "missing Content-Type"),
        (b"{}", {**JSON, "content-encoding": "br"}, 415, "UNSUPPORTED_MEDIA_TYPE", "Content-Encoding 'br'"),
        (b"not gzip", {**JSON, "content-encoding": "gzip"}, 400, "INVALID_ARGUMENT", "not valid gzip data"),
        (gzip.compress(b"{}")[:-5], {**JSON, "content-encoding": "gzip"}, 400, "INVALID_ARGUMENT", "truncated"),
        (b"{}", {**JSON, "x-tracelake-experiment-id": "42"}, 404, "NOT_FOUND", "no experiment with id '42'"),
        (b"{}", {**JSON, "x-tracelake-experiment-id": "abc"}, 400, "INVALID_ARGUMENT", "experiment id 'abc'"),
        (b"{}", {**JSON, "x-mlflow-experiment-id": "9"}, 404, "NOT_FOUND", "no experiment"),
    ],
)
def test_bad_requests(
    client: TestClient, content: bytes, headers: dict[str, str], status: int, code: str, fragment: str
) -> None:
    if "x-tracelake-experiment-id" in headers or "x-mlflow-experiment-id" in headers:
        content = otlp_json(spans(2)) if headers.get("content-type") == JSON["content-type"] else content
    assert_error(client.post("/v1/traces", content=content, headers=headers), status, code, fragment)
    assert_nothing_written(client)


def test_invalid_utf8_in_a_protobuf_string_names_the_field(client: TestClient) -> None:
    body = protobuf(spans(2)).replace(b"tool_1", b"tool\xff1")
    assert_error(
        client.post("/v1/traces", content=body, headers=PROTOBUF),
        400,
        "INVALID_ARGUMENT",
        "spans[1].name: invalid UTF-8",
    )
    assert_nothing_written(client)


def test_a_span_time_beyond_what_the_index_stores_is_refused_with_the_reason(client: TestClient) -> None:
    # OTLP/JSON carries times as decimal strings: nothing stops a sender from going past 2**63 ns.
    data = json.loads(otlp_json(spans(1), spans(2)))
    too_late = data["resourceSpans"][0]["scopeSpans"][0]["spans"][3]
    too_late["startTimeUnixNano"], too_late["endTimeUnixNano"] = str(10**30), str(10**30 + 5)
    # An LLM span: its cost is priced as of its start time.
    too_late["attributes"] += [
        {"key": "gen_ai.request.model", "value": {"stringValue": "gpt-4o"}},
        {"key": "gen_ai.usage.input_tokens", "value": {"intValue": "10"}},
    ]
    response = client.post("/v1/traces", content=json.dumps(data).encode(), headers=JSON)
    assert response.status_code == 200
    assert response.json()["partialSuccess"]["rejectedSpans"] == "1"
    assert "beyond" in response.json()["partialSuccess"]["errorMessage"]
    assert [info["trace_id"] for info in search(client)] == [trace_id(2), trace_id(1)]
    still_serving(client)


def test_an_unknown_experiment_in_a_resource_writes_nothing(client: TestClient) -> None:
    good = protobuf(spans(2), resource={"tracelake.experiment.name": "fine"})
    unknown = protobuf(spans(3), resource={"tracelake.experiment_id": "77"})
    response = client.post("/v1/traces", content=good + unknown, headers=PROTOBUF)
    assert_error(response, 404, "NOT_FOUND", "77")
    assert search(client) == []


def test_a_deleted_experiment_takes_no_spans(client: TestClient, store: SqlTraceStore) -> None:
    gone = store.create_experiment("gone").experiment_id
    store.delete_experiment(gone)
    headers = {**PROTOBUF, "x-tracelake-experiment-id": gone}
    assert_error(client.post("/v1/traces", content=protobuf(spans(1)), headers=headers), 404, "NOT_FOUND", "deleted")
    assert search(client) == []


def test_an_experiment_deleted_between_requests_takes_no_more_spans(client: TestClient, store: SqlTraceStore) -> None:
    # The server remembers the experiment of the first request; the delete must still win.
    doomed = store.create_experiment("doomed").experiment_id
    headers = {**PROTOBUF, "x-tracelake-experiment-id": doomed}
    assert client.post("/v1/traces", content=protobuf(spans(1)), headers=headers).status_code == 200
    store.delete_experiment(doomed)
    assert_error(client.post("/v1/traces", content=protobuf(spans(2)), headers=headers), 404, "NOT_FOUND", "deleted")
    with pytest.raises(NotFoundError):
        store.get_trace_info(trace_id(2))


def test_a_named_experiment_deleted_between_requests_is_created_again(client: TestClient, store: SqlTraceStore) -> None:
    headers = {**PROTOBUF, "x-tracelake-experiment-name": "support-agent"}
    assert client.post("/v1/traces", content=protobuf(spans(1)), headers=headers).status_code == 200
    first = store.get_experiment_by_name("support-agent")
    assert first is not None
    store.delete_experiment(first.experiment_id)

    assert client.post("/v1/traces", content=protobuf(spans(2)), headers=headers).status_code == 200

    second = store.get_experiment_by_name("support-agent")
    assert second is not None and second.experiment_id != first.experiment_id
    assert store.get_trace_info(trace_id(2)).experiment_id == second.experiment_id


def test_a_declared_body_over_the_limit_is_refused_at_once(small_client: TestClient) -> None:
    body = protobuf(*(spans(t, 10) for t in range(1, 20)))
    assert len(body) > LIMIT
    response = small_client.post("/v1/traces", content=body, headers=PROTOBUF)
    assert_error(response, 413, "PAYLOAD_TOO_LARGE", f"limit of {LIMIT} bytes")
    assert response.headers["x-request-id"]
    assert_nothing_written(small_client)


def test_a_streamed_body_over_the_limit_is_cut_off(small_client: TestClient) -> None:
    def chunks() -> Iterator[bytes]:
        for _ in range(100):  # no Content-Length: the body is sent chunked
            yield b"x" * 1024

    response = small_client.post("/v1/traces", content=chunks(), headers=PROTOBUF)
    assert_error(response, 413, "PAYLOAD_TOO_LARGE")
    assert_nothing_written(small_client)


def test_a_body_that_inflates_over_the_limit_is_refused(small_client: TestClient) -> None:
    bomb = gzip.compress(b'{"resourceSpans": []' + b" " * 100_000 + b"}")
    assert len(bomb) < LIMIT
    response = small_client.post("/v1/traces", content=bomb, headers={**JSON, "content-encoding": "gzip"})
    assert_error(response, 413, "PAYLOAD_TOO_LARGE", "decompressed")
    assert_nothing_written(small_client)


def test_the_limit_applies_to_the_rest_api_too(small_client: TestClient) -> None:
    response = small_client.post("/api/v1/traces/search", json={"filter": "name = '" + "x" * LIMIT + "'"})
    assert_error(response, 413, "PAYLOAD_TOO_LARGE")
    still_serving(small_client)


async def test_a_full_ingest_queue_answers_429_with_retry_after(tmp_path: Path) -> None:
    app = create_app(ServerSettings.for_home(tmp_path / "home", ingest_queue_size=1, retry_after_seconds=3))
    release = asyncio.Event()
    body = protobuf(spans(1))

    async def slow_body() -> AsyncIterator[bytes]:
        yield body[:10]
        await release.wait()  # the sender stalls: its request holds the only place in the queue
        yield body[10:]

    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
            first = asyncio.create_task(http.post("/v1/traces", content=slow_body(), headers=PROTOBUF))
            while app.state.ingest_gate.in_flight == 0:
                await asyncio.sleep(0)
            refused = await http.post("/v1/traces", content=protobuf(spans(2)), headers=PROTOBUF)
            assert_error(refused, 429, "RESOURCE_EXHAUSTED", "busy")
            assert refused.headers["retry-after"] == "3"
            assert (await http.get("/health")).status_code == 200  # other routes are not held up

            release.set()
            assert (await first).status_code == 200
            again = await http.post("/v1/traces", content=protobuf(spans(2)), headers=PROTOBUF)
            assert again.status_code == 200
            found = await http.post("/api/v1/traces/search", json={})
            assert sorted(trace["info"]["trace_id"] for trace in found.json()["traces"]) == [trace_id(1), trace_id(2)]


@pytest.mark.parametrize("concurrency", [1, 2])
async def test_admitted_requests_take_turns_to_decode_and_write(
    tmp_path: Path, concurrency: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = ServerSettings.for_home(tmp_path / "home", ingest_concurrency=concurrency)
    app = create_app(settings)
    working, most = 0, 0
    lock, go_on = threading.Lock(), threading.Event()
    ingest = otlp_route._ingest

    def counting_ingest(*args: Any) -> bytes:
        nonlocal working, most
        with lock:
            working += 1
            most = max(most, working)
        go_on.wait(30)  # the first request holds its turn until the second has been admitted
        try:
            return ingest(*args)
        finally:
            with lock:
                working -= 1

    monkeypatch.setattr(otlp_route, "_ingest", counting_ingest)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
            posts = [
                asyncio.create_task(http.post("/v1/traces", content=protobuf(spans(n)), headers=PROTOBUF))
                for n in (1, 2)
            ]
            while app.state.ingest_gate.in_flight < 2 or working < concurrency:
                await asyncio.sleep(0.001)
            if concurrency == 1:
                await asyncio.sleep(0.05)  # time for a second turn to start, were one given
                assert working == 1
            go_on.set()
            assert [(await post).status_code for post in posts] == [200, 200]
    assert most == concurrency
