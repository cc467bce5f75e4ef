"""`POST /v1/traces`: encodings, partial success, idempotency, merging, experiment resolution."""

from __future__ import annotations

import gzip
import json
import threading
import zlib

import pytest
from fastapi.testclient import TestClient
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceResponse

from tracelake.store import SqlTraceStore

from .helpers import experiments, search
from .otlp_data import JSON, PROTOBUF, otlp_json, protobuf, spans, trace_id


def test_protobuf_spans_are_stored_and_acknowledged_in_protobuf(
    backend_client: TestClient, backend_store: SqlTraceStore
) -> None:
    response = backend_client.post("/v1/traces", content=protobuf(spans(1), spans(2)), headers=PROTOBUF)

    assert response.status_code == 200
    assert response.headers["content-type"] == "application/x-protobuf"
    assert not ExportTraceServiceResponse.FromString(response.content).HasField("partial_success")
    found = {info["trace_id"]: info for info in search(backend_client)}
    assert set(found) == {trace_id(1), trace_id(2)}
    assert found[trace_id(1)]["span_count"] == 3
    assert found[trace_id(1)]["name"] == "agent"
    assert found[trace_id(1)]["request_preview"] == "q1"
    assert found[trace_id(1)]["metadata"]["service_name"] == "support-agent"
    assert experiments(backend_client) == {"Default": found[trace_id(1)]["experiment_id"]}
    assert [span.name for span in backend_store.get_spans(trace_id(1))] == ["agent", "tool_1", "tool_2"]


def test_json_spans_are_acknowledged_in_json(client: TestClient) -> None:
    response = client.post("/v1/traces", content=otlp_json(spans(1)), headers=JSON)

    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    assert response.json() == {}
    assert [info["trace_id"] for info in search(client)] == [trace_id(1)]


@pytest.mark.parametrize(
    ("coding", "compress"),
    [
        ("gzip", gzip.compress),
        ("x-gzip", gzip.compress),
        ("deflate", zlib.compress),
        ("deflate", lambda data: zlib.compress(data)[2:-4]),  # raw deflate, as some senders do
        ("gzip", lambda data: gzip.compress(data[:10]) + gzip.compress(data[10:])),  # two gzip members
        ("identity", lambda data: data),
    ],
)
def test_compressed_bodies(client: TestClient, coding: str, compress: object) -> None:
    body = compress(protobuf(spans(1)))  # type: ignore[operator]
    response = client.post("/v1/traces", content=body, headers={**PROTOBUF, "content-encoding": coding})
    assert response.status_code == 200, response.text
    assert [info["span_count"] for info in search(client)] == [3]


def test_refused_spans_are_counted_in_partial_success(client: TestClient) -> None:
    response = client.post("/v1/traces", content=protobuf(spans(1), spans(2, bad=True)), headers=PROTOBUF)

    assert response.status_code == 200
    partial = ExportTraceServiceResponse.FromString(response.content).partial_success
    assert partial.rejected_spans == 1
    assert "rejected 1 of 6 spans: span #5" in partial.error_message
    assert "invalid span id" in partial.error_message
    assert {info["trace_id"]: info["span_count"] for info in search(client)} == {trace_id(1): 3, trace_id(2): 2}

    response = client.post("/v1/traces", content=otlp_json(spans(3, bad=True)), headers=JSON)
    assert response.json()["partialSuccess"]["rejectedSpans"] == "1"
    assert "invalid span id" in response.json()["partialSuccess"]["errorMessage"]


def test_a_batch_sent_twice_is_stored_once(backend_client: TestClient, backend_store: SqlTraceStore) -> None:
    body = protobuf(spans(1), spans(2))
    for _ in range(2):
        assert backend_client.post("/v1/traces", content=body, headers=PROTOBUF).status_code == 200
    assert backend_client.post("/v1/traces", content=otlp_json(spans(1)), headers=JSON).status_code == 200

    assert sorted(info["span_count"] for info in search(backend_client)) == [3, 3]
    assert len(backend_store.get_spans(trace_id(1))) == 3


def test_one_trace_from_several_batches_and_senders(backend_client: TestClient) -> None:
    # The tool service's spans arrive first, from another process; the agent's root comes last.
    tool = protobuf(spans(7, 2, first=1), resource={"service.name": "tool-service"})
    more = otlp_json(spans(7, 1, first=3), resource={"service.name": "tool-service"})
    root = protobuf(spans(7, 1), resource={"service.name": "agent"})
    for body, headers in ((tool, PROTOBUF), (more, JSON), (root, PROTOBUF)):
        assert backend_client.post("/v1/traces", content=body, headers=headers).status_code == 200

    [info] = search(backend_client)
    assert info["span_count"] == 4
    assert info["state"] == "OK"
    assert info["name"] == "agent"
    assert info["execution_duration"] == 100
    trace = backend_client.get(f"/api/v1/traces/{trace_id(7)}").json()["trace"]
    assert sorted(span["name"] for span in trace["data"]["spans"]) == ["agent", "tool_1", "tool_2", "tool_3"]


def test_concurrent_senders_of_the_same_traces(backend_client: TestClient) -> None:
    bodies = [protobuf(*(spans(t, 1, first=n) for t in range(1, 11))) for n in range(4)]
    bodies += bodies  # each batch twice, racing with itself
    statuses: list[int] = []

    def send(body: bytes) -> None:
        statuses.append(backend_client.post("/v1/traces", content=body, headers=PROTOBUF).status_code)

    threads = [threading.Thread(target=send, args=(body,)) for body in bodies]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert statuses == [200] * len(bodies)
    found = search(backend_client)
    assert len(found) == 10
    assert {info["span_count"] for info in found} == {4}
    assert {info["state"] for info in found} == {"OK"}


class TestExperimentResolution:
    def _send(self, client: TestClient, headers: dict[str, str] | None = None, **resource: object) -> str:
        body = protobuf(spans(1), resource=dict(resource))
        response = client.post("/v1/traces", content=body, headers={**PROTOBUF, **(headers or {})})
        assert response.status_code == 200, response.text
        [info] = search(client)
        return str(info["experiment_id"])

    def test_default_experiment(self, client: TestClient) -> None:
        assert self._send(client) == experiments(client)["Default"]

    def test_header_experiment_id(self, client: TestClient, store: SqlTraceStore) -> None:
        chosen = store.create_experiment("chosen").experiment_id
        assert self._send(client, {"x-tracelake-experiment-id": chosen}) == chosen

    def test_header_experiment_name_creates_it(self, client: TestClient) -> None:
        got = self._send(client, {"x-tracelake-experiment-name": "support-agent"})
        assert experiments(client) == {"support-agent": got}

    def test_id_header_wins_over_name_header(self, client: TestClient, store: SqlTraceStore) -> None:
        chosen = store.create_experiment("chosen").experiment_id
        headers = {"x-tracelake-experiment-name": "other", "x-tracelake-experiment-id": chosen}
        assert self._send(client, headers) == chosen
        assert "other" not in experiments(client)

    def test_mlflow_header(self, client: TestClient, store: SqlTraceStore) -> None:
        chosen = store.create_experiment("mlflow-exp").experiment_id
        assert self._send(client, {"x-mlflow-experiment-id": chosen}) == chosen

    def test_tracelake_headers_win_over_mlflow(self, client: TestClient, store: SqlTraceStore) -> None:
        mlflow = store.create_experiment("mlflow-exp").experiment_id
        got = self._send(client, {"x-mlflow-experiment-id": mlflow, "x-tracelake-experiment-name": "mine"})
        assert got == experiments(client)["mine"] != mlflow

    def test_resource_attribute_id(self, client: TestClient, store: SqlTraceStore) -> None:
        chosen = store.create_experiment("chosen").experiment_id
        assert self._send(client, **{"tracelake.experiment_id": chosen}) == chosen

    def test_resource_attribute_name(self, client: TestClient) -> None:
        got = self._send(client, **{"tracelake.experiment.name": "from-resource"})
        assert experiments(client)["from-resource"] == got

    def test_headers_win_over_resource_attributes(self, client: TestClient) -> None:
        got = self._send(client, {"x-tracelake-experiment-name": "header"}, **{"tracelake.experiment.name": "res"})
        assert experiments(client) == {"header": got}

    def test_each_resource_goes_to_its_experiment(self, client: TestClient) -> None:
        first = protobuf(spans(1), resource={"tracelake.experiment.name": "a"})
        second = protobuf(spans(2), resource={"tracelake.experiment.name": "b"})
        combined = first + second  # concatenated messages merge their repeated fields
        assert client.post("/v1/traces", content=combined, headers=PROTOBUF).status_code == 200
        ids = experiments(client)
        assert [info["trace_id"] for info in search(client, experiment_ids=[ids["a"]])] == [trace_id(1)]
        assert [info["trace_id"] for info in search(client, experiment_ids=[ids["b"]])] == [trace_id(2)]


def test_the_response_names_no_partial_success_for_an_empty_request(client: TestClient) -> None:
    response = client.post("/v1/traces", content=json.dumps({"resourceSpans": []}), headers=JSON)
    assert response.status_code == 200
    assert response.json() == {}
    assert search(client) == []
