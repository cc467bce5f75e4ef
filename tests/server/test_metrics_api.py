"""POST /api/v1/metrics: spans sent over OTLP come back as dashboard series, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
from typing import Any

import pytest
from fastapi.testclient import TestClient
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans, ScopeSpans, Span, Status

from .helpers import assert_error, still_serving

T0 = 1_764_000_000_000  # ms, a whole hour
HOUR = 3_600_000
MS = 1_000_000  # ns


def otlp_span(trace: int, number: int, name: str, start_ms: int, end_ms: int, **attributes: Any) -> Span:
    error = attributes.pop("error", False)
    return Span(
        trace_id=bytes.fromhex(f"{trace:032x}"),
        span_id=bytes.fromhex(f"{trace:08x}{number + 1:08x}"),
        parent_span_id=b"" if number == 0 else bytes.fromhex(f"{trace:08x}{1:08x}"),
        name=name,
        start_time_unix_nano=(T0 + start_ms) * MS,
        end_time_unix_nano=(T0 + end_ms) * MS,
        status=Status(code=Status.STATUS_CODE_ERROR if error else Status.STATUS_CODE_OK),
        attributes=[KeyValue(key=key, value=AnyValue(string_value=value)) for key, value in attributes.items()],
    )


def agent_trace(
    trace: int, start_ms: int, duration_ms: int, model: str, tokens: int, *, error: bool = False
) -> list[Span]:
    """A root agent span with an LLM call (model, token usage, cost) and a tool call."""
    root = otlp_span(
        trace,
        0,
        "agent",
        start_ms,
        start_ms + duration_ms,
        error=error,
        **{"tracelake.span.type": "AGENT", "tracelake.trace.tags": json.dumps({"env": "prod" if trace % 2 else "dev"})},
    )
    call = otlp_span(
        trace,
        1,
        "chat",
        start_ms + 1,
        start_ms + duration_ms // 2,
        **{
            "tracelake.span.type": "LLM",
            "tracelake.llm.model": model,
            "tracelake.llm.token_usage": json.dumps({"input_tokens": tokens, "output_tokens": 1}),
            "tracelake.llm.cost": json.dumps({"total_cost": tokens / 1000}),
        },
    )
    tool = otlp_span(trace, 2, "lookup", start_ms + 2, start_ms + 3, error=error, **{"tracelake.span.type": "TOOL"})
    return [root, call, tool]


def send(client: TestClient, experiment_id: str, *traces: list[Span]) -> None:
    body = ExportTraceServiceRequest(
        resource_spans=[ResourceSpans(scope_spans=[ScopeSpans(spans=[span for trace in traces for span in trace])])]
    ).SerializeToString()
    headers = {"content-type": "application/x-protobuf", "x-tracelake-experiment-id": experiment_id}
    response = client.post("/v1/traces", content=body, headers=headers)
    assert response.status_code == 200, response.text


@pytest.fixture
def experiment_id(backend_client: TestClient) -> str:
    response = backend_client.post("/api/v1/experiments", json={"name": "support-agent"})
    assert response.status_code == 201, response.text
    experiment_id: str = response.json()["experiment"]["experiment_id"]
    send(
        backend_client,
        experiment_id,
        agent_trace(1, 1_000, 800, "gpt-4o", 100),
        agent_trace(2, 2_000, 400, "gpt-4o-mini", 10, error=True),
        agent_trace(3, 3_000, 1_200, "gpt-4o", 300),
        agent_trace(4, 2 * HOUR, 100, "gpt-4o", 50),
    )
    return experiment_id


def post(client: TestClient, **body: Any) -> Any:
    response = client.post("/api/v1/metrics", json={"start_time_ms": T0, "end_time_ms": T0 + 3 * HOUR, **body})
    assert response.status_code == 200, response.text
    return response.json()


def test_the_example_request_of_the_rest_contract(backend_client: TestClient, experiment_id: str) -> None:
    answer = post(
        backend_client,
        experiment_ids=[experiment_id],
        filter="tags.env = 'prod' OR status = 'ERROR'",
        bucket_seconds=3600,
        group_by="model",
        metrics=["request_count", "error_rate", "latency_p50", "latency_p90", "input_tokens", "total_tokens", "cost"],
    )
    # Traces 1, 2 (an error) and 3 in hour 0, none in hour 1, and the matching LLM calls.
    assert answer == {
        "bucket_seconds": 3600,
        "series": [
            {
                "group": "gpt-4o",
                "points": [
                    {
                        "start_time_ms": T0,
                        "request_count": 2,
                        "error_rate": 0.0,
                        "latency_p50": 399.0,
                        "latency_p90": 599.0,
                        "input_tokens": 400,
                        "total_tokens": 402,
                        "cost": pytest.approx(0.4),
                    }
                ],
            },
            {
                "group": "gpt-4o-mini",
                "points": [
                    {
                        "start_time_ms": T0,
                        "request_count": 1,
                        "error_rate": 0.0,
                        "latency_p50": 199.0,
                        "latency_p90": 199.0,
                        "input_tokens": 10,
                        "total_tokens": 11,
                        "cost": pytest.approx(0.01),
                    }
                ],
            },
        ],
    }


def test_every_metric_by_default_and_series_per_tag(backend_client: TestClient, experiment_id: str) -> None:
    answer = post(backend_client, experiment_ids=[experiment_id], bucket_seconds=3600, group_by="tags.env")
    dev, prod = answer["series"]  # two traces each: ties go by name
    assert prod["group"] == "prod"
    assert [point["request_count"] for point in prod["points"]] == [2]
    assert set(prod["points"][0]) == {
        "start_time_ms",
        "request_count",
        "error_rate",
        "latency_p50",
        "latency_p90",
        "latency_p99",
        "input_tokens",
        "output_tokens",
        "total_tokens",
        "cost",
    }
    assert prod["points"][0]["latency_p99"] == 1200.0
    assert dev == {
        "group": "dev",
        "points": [
            {
                "start_time_ms": T0,
                "request_count": 1,
                "error_rate": 1.0,
                "latency_p50": 400.0,
                "latency_p90": 400.0,
                "latency_p99": 400.0,
                "input_tokens": 10,
                "output_tokens": 1,
                "total_tokens": 11,
                "cost": pytest.approx(0.01),
            },
            {
                "start_time_ms": T0 + 2 * HOUR,
                "request_count": 1,
                "error_rate": 0.0,
                "latency_p50": 100.0,
                "latency_p90": 100.0,
                "latency_p99": 100.0,
                "input_tokens": 50,
                "output_tokens": 1,
                "total_tokens": 51,
                "cost": pytest.approx(0.05),
            },
        ],
    }


def test_failing_tools_by_span_name(backend_client: TestClient, experiment_id: str) -> None:
    # One day-long bucket (aligned to the epoch, so it starts 16 hours before T0) holds all four traces.
    answer = post(backend_client, bucket_seconds=86_400, group_by="span.name", metrics=["request_count", "error_rate"])
    assert [len(series["points"]) for series in answer["series"]] == [1, 1, 1]
    assert {series["group"]: series["points"][0]["error_rate"] for series in answer["series"]} == {
        "agent": 0.25,
        "chat": 0.0,
        "lookup": 0.25,
    }


@pytest.mark.parametrize(
    ("body", "fragments"),
    [
        ({"bucket_seconds": 60, "metrics": ["p95"]}, ["unknown metric 'p95'"]),
        ({"bucket_seconds": 60, "group_by": "colour"}, ["invalid group_by 'colour'"]),
        ({"bucket_seconds": 1}, ["10,800 buckets of 1 s", "at most 10,000"]),
        ({"bucket_seconds": 60, "end_time_ms": T0 - 1}, ["must be after start_time_ms"]),
        ({"bucket_seconds": 60, "experiment_ids": ["x"]}, ["experiment id 'x'"]),
        ({}, ["bucket_seconds"]),
        ({"bucket_seconds": 60, "metric": ["cost"]}, ["metric"]),
    ],
)
def test_bad_requests_get_400_naming_the_problem(
    backend_client: TestClient, body: dict[str, Any], fragments: list[str]
) -> None:
    response = backend_client.post("/api/v1/metrics", json={"start_time_ms": T0, "end_time_ms": T0 + 3 * HOUR, **body})
    assert_error(response, 400, "INVALID_ARGUMENT", *fragments)
    still_serving(backend_client)


def test_a_bad_filter_reports_its_position(client: TestClient) -> None:
    response = client.post(
        "/api/v1/metrics",
        json={
            "start_time_ms": T0,
            "end_time_ms": T0 + HOUR,
            "bucket_seconds": 60,
            "filter": "status = 'OK' AND x; DROP",
        },
    )
    error = assert_error(response, 400, "INVALID_ARGUMENT", "unexpected character ';'")
    assert error["position"] == 19


def test_the_route_is_in_the_openapi_document(client: TestClient) -> None:
    document = client.get("/api/v1/openapi.json").json()
    operation = document["paths"]["/api/v1/metrics"]["post"]
    assert operation["summary"] == "Metrics over time"
