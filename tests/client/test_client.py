from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tracelake.client import Client, ClientError, MetricsResult, ServerUnavailableError, TracePage
from tracelake.exceptions import ConfigError, ConflictError, NotFoundError, QueryError, StoreError
from tracelake.model import (
    Assessment,
    AssessmentError,
    AssessmentKind,
    AssessmentSource,
    AssessmentSourceType,
    Experiment,
    Span,
    SpanStatus,
    StatusCode,
    Trace,
    TraceData,
    TraceInfo,
    TraceState,
)

from .fake_api import Answer, FakeApi, error

TRACE_ID = "0af7651916cd43dd8448eb211c80319c"
EXPERIMENT = Experiment("7", "support-agent", "/data/artifacts/7", creation_time=1, last_update_time=2, tags={"t": "v"})
SPAN = Span(TRACE_ID, "b7ad6b7169203331", None, "answer", "AGENT", 10, 20, SpanStatus(StatusCode.OK), inputs={"q": 1})
INFO = TraceInfo(TRACE_ID, "7", 1_750_000_000_000, 12, TraceState.OK, name="answer", tags={"team": "care"})
TRACE = Trace(INFO, TraceData([SPAN]))
ASSESSMENT = Assessment(
    "a-1",
    TRACE_ID,
    "helpful",
    AssessmentKind.FEEDBACK,
    True,
    AssessmentSource(AssessmentSourceType.HUMAN, "u-7"),
    100,
    100,
    rationale="fast",
)


@pytest.fixture
def api() -> Iterator[FakeApi]:
    server = FakeApi().start()
    yield server
    server.stop()


@pytest.fixture
def client(api: FakeApi) -> Iterator[Client]:
    with Client(api.url, retries=2) as c:
        yield c


def only(api: FakeApi, method: str, path: str) -> Any:
    (seen,) = api.requests_to(method, path)
    return seen


# Experiments ---------------------------------------------------------------------------------------


def test_experiments_round_trip(api: FakeApi, client: Client) -> None:
    payload = {"experiment": EXPERIMENT.to_dict()}
    api.on("POST", "/api/v1/experiments", Answer(201, payload))
    api.on("GET", "/api/v1/experiments", {"experiments": [EXPERIMENT.to_dict()]})
    api.on("GET", "/api/v1/experiments/7", payload)
    api.on("GET", "/api/v1/experiments/by-name/support-agent", payload)
    api.on("PATCH", "/api/v1/experiments/7", payload)
    api.on("DELETE", "/api/v1/experiments/7", Answer(204))

    assert client.create_experiment("support-agent", "/data/artifacts/7", {"t": "v"}) == EXPERIMENT
    assert only(api, "POST", "/api/v1/experiments").body == {
        "name": "support-agent",
        "artifact_location": "/data/artifacts/7",
        "tags": {"t": "v"},
    }
    assert client.list_experiments(include_deleted=True) == [EXPERIMENT]
    assert only(api, "GET", "/api/v1/experiments").query == {"include_deleted": "true"}
    assert client.get_experiment("7") == EXPERIMENT
    assert client.get_experiment_by_name("support-agent") == EXPERIMENT
    assert client.update_experiment("7", name="renamed") == EXPERIMENT
    assert only(api, "PATCH", "/api/v1/experiments/7").body == {"name": "renamed"}
    assert client.delete_experiment("7") is None
    assert len(api.requests_to("DELETE", "/api/v1/experiments/7")) == 1


def test_a_missing_experiment_name_is_none_and_names_are_escaped(api: FakeApi, client: Client) -> None:
    api.on("GET", "/api/v1/experiments/by-name/team%2Fagent%20v2", error(404, "NOT_FOUND", "no experiment"))
    assert client.get_experiment_by_name("team/agent v2") is None
    assert api.seen[0].path == "/api/v1/experiments/by-name/team/agent v2"


# Traces --------------------------------------------------------------------------------------------


def test_search_sends_the_contract_body_and_returns_a_page(api: FakeApi, client: Client) -> None:
    api.on("POST", "/api/v1/traces/search", {"traces": [TRACE.to_dict()], "next_page_token": "p2"})
    page = client.search_traces(["7"], "tags.team = 'care'", ["timestamp_ms DESC"], 10, "p1", include_spans=True)
    assert isinstance(page, TracePage)
    assert page.traces == [TRACE]
    assert page.next_page_token == "p2"
    assert list(page) == [TRACE]
    assert only(api, "POST", "/api/v1/traces/search").body == {
        "experiment_ids": ["7"],
        "filter": "tags.team = 'care'",
        "order_by": ["timestamp_ms DESC"],
        "max_results": 10,
        "page_token": "p1",
        "include_spans": True,
    }


def test_iter_traces_follows_page_tokens(api: FakeApi, client: Client) -> None:
    api.on(
        "POST",
        "/api/v1/traces/search",
        {"traces": [TRACE.to_dict()], "next_page_token": "p2"},
        {"traces": [TRACE.to_dict()], "next_page_token": None},
    )
    assert len(list(client.iter_traces(["7"], page_size=1))) == 2
    tokens = [s.body.get("page_token") for s in api.requests_to("POST", "/api/v1/traces/search")]
    assert tokens == [None, "p2"]


def test_trace_reads(api: FakeApi, client: Client) -> None:
    with_assessments = Trace(dataclasses.replace(INFO, assessments=[ASSESSMENT]), TRACE.data)
    api.on("GET", f"/api/v1/traces/{TRACE_ID}", {"trace": with_assessments.to_dict()})
    api.on("POST", "/api/v1/traces/batch-get", {"traces": [TRACE.to_dict()]})
    api.on(
        "GET",
        "/api/v1/experiments/7/traces/by-client-request-id/req%2F42",
        {"trace": Trace(INFO, TraceData([])).to_dict()},
    )
    trace = client.get_trace(TRACE_ID)
    assert trace == with_assessments
    assert trace.info.assessments == [ASSESSMENT]
    assert only(api, "GET", f"/api/v1/traces/{TRACE_ID}").query == {"include_spans": "true"}
    assert client.batch_get_traces([TRACE_ID, "f" * 32]) == [TRACE]
    assert only(api, "POST", "/api/v1/traces/batch-get").body == {
        "trace_ids": [TRACE_ID, "f" * 32],
        "include_spans": True,
    }
    assert client.get_trace_by_client_request_id("7", "req/42").data.spans == []


def test_tags_and_deletion(api: FakeApi, client: Client) -> None:
    api.on("PUT", f"/api/v1/traces/{TRACE_ID}/tags/review%20state", Answer(204))
    api.on("DELETE", f"/api/v1/traces/{TRACE_ID}/tags/review%20state", Answer(204))
    api.on("POST", "/api/v1/traces/delete", {"deleted": 3})
    client.set_trace_tag(TRACE_ID, "review state", "done")
    assert only(api, "PUT", f"/api/v1/traces/{TRACE_ID}/tags/review%20state").body == {"value": "done"}
    client.delete_trace_tag(TRACE_ID, "review state")
    assert client.delete_traces("7", max_timestamp_ms=1000, max_traces=3) == 3
    assert only(api, "POST", "/api/v1/traces/delete").body == {
        "experiment_id": "7",
        "max_timestamp_ms": 1000,
        "max_traces": 3,
    }


# Assessments ---------------------------------------------------------------------------------------


def test_feedback_and_expectations(api: FakeApi, client: Client) -> None:
    created = Answer(201, {"assessment": ASSESSMENT.to_dict()})
    api.on("POST", f"/api/v1/traces/{TRACE_ID}/assessments", created)
    api.on("POST", "/api/v1/experiments/7/assessments", created)
    base = f"/api/v1/traces/{TRACE_ID}/assessments"
    api.on("GET", base, {"assessments": [ASSESSMENT.to_dict()]})
    api.on("GET", f"{base}/a-1", {"assessment": ASSESSMENT.to_dict()})
    api.on("PATCH", f"{base}/a-1", {"assessment": ASSESSMENT.to_dict()})
    api.on("DELETE", f"{base}/a-1", Answer(204))

    feedback = client.log_feedback(
        TRACE_ID,
        name="helpful",
        value=True,
        rationale="fast",
        source=AssessmentSource(AssessmentSourceType.HUMAN, "u-7"),
        span_id="b7ad6b7169203331",
        metadata={"channel": "web"},
    )
    assert feedback == ASSESSMENT
    assert only(api, "POST", base).body == {
        "name": "helpful",
        "kind": "feedback",
        "value": True,
        "rationale": "fast",
        "source": {"source_type": "HUMAN", "source_id": "u-7"},
        "span_id": "b7ad6b7169203331",
        "metadata": {"channel": "web"},
    }
    client.log_expectation(experiment_id="7", client_request_id="req-42", name="answer", value={"text": "shipped"})
    assert only(api, "POST", "/api/v1/experiments/7/assessments").body == {
        "name": "answer",
        "kind": "expectation",
        "value": {"text": "shipped"},
        "client_request_id": "req-42",
    }
    assert client.list_assessments(TRACE_ID) == [ASSESSMENT]
    assert client.get_assessment(TRACE_ID, "a-1") == ASSESSMENT
    client.update_assessment(TRACE_ID, "a-1", {"value": False, "error": AssessmentError("TIMEOUT", "judge")})
    assert only(api, "PATCH", f"{base}/a-1").body == {
        "value": False,
        "error": {"error_code": "TIMEOUT", "error_message": "judge"},
    }
    client.delete_assessment(TRACE_ID, "a-1")
    with pytest.raises(ValueError, match="trace_id"):
        client.log_feedback(name="x", value=1)


# Metrics -------------------------------------------------------------------------------------------


def test_metrics(api: FakeApi, client: Client) -> None:
    api.on(
        "POST",
        "/api/v1/metrics",
        {
            "bucket_seconds": 3600,
            "series": [
                {"group": "gpt-4o-mini", "points": [{"start_time_ms": 0, "request_count": 12, "error_rate": None}]},
                {"group": None, "points": []},
            ],
        },
    )
    result = client.get_metrics(
        ["7"], 0, 86_400_000, metrics=["request_count", "error_rate"], filter_string="status = 'OK'", group_by="model"
    )
    assert isinstance(result, MetricsResult)
    assert result.bucket_seconds == 3600
    first = result.series[0]
    assert first.group == "gpt-4o-mini"
    assert first.points[0].start_time_ms == 0
    assert first.points[0]["request_count"] == 12.0
    assert first.points[0]["error_rate"] is None
    assert result.series[1].group is None
    assert only(api, "POST", "/api/v1/metrics").body == {
        "experiment_ids": ["7"],
        "start_time_ms": 0,
        "end_time_ms": 86_400_000,
        "bucket_seconds": 3600,
        "metrics": ["request_count", "error_rate"],
        "filter": "status = 'OK'",
        "group_by": "model",
    }


# Errors, auth, retries -----------------------------------------------------------------------------


def test_error_bodies_become_tracelake_errors(api: FakeApi, client: Client) -> None:
    api.on("GET", "/api/v1/experiments/404", error(404, "NOT_FOUND", "experiment 404 does not exist"))
    api.on("POST", "/api/v1/experiments", error(409, "CONFLICT", "name 'a' is taken"))
    api.on("GET", "/api/v1/experiments/bad", error(400, "INVALID_ARGUMENT", "experiment id must be decimal"))
    api.on("GET", "/api/v1/experiments/secret", error(403, "PERMISSION_DENIED", "needs CAN_READ"))
    with pytest.raises(NotFoundError, match="experiment 404 does not exist"):
        client.get_experiment("404")
    with pytest.raises(ConflictError, match="'a' is taken"):
        client.create_experiment("a")
    with pytest.raises(ClientError) as invalid:
        client.get_experiment("bad")
    assert (invalid.value.status, invalid.value.code) == (400, "INVALID_ARGUMENT")
    assert "experiment id must be decimal" in str(invalid.value)
    with pytest.raises(ClientError) as denied:
        client.get_experiment("secret")
    assert (denied.value.status, denied.value.code) == (403, "PERMISSION_DENIED")


def test_a_bad_filter_is_a_query_error_with_its_position(api: FakeApi, client: Client) -> None:
    message = "unknown field 'colour' (at position 0: <HERE>colour = 'red')"
    api.on("POST", "/api/v1/traces/search", error(400, "INVALID_ARGUMENT", message, position=0))
    with pytest.raises(QueryError) as caught:
        client.search_traces(["7"], "colour = 'red'")
    assert caught.value.position == 0
    assert str(caught.value) == message  # the server's message, not decorated twice


def test_token_is_sent_as_bearer(api: FakeApi) -> None:
    api.on("GET", "/health", {"status": "ok", "version": "0.1.0"})
    with Client(api.url, token="tl-123") as authed:
        assert authed.health() == {"status": "ok", "version": "0.1.0"}
    with Client(api.url) as anonymous:
        anonymous.health()
    first, second = api.seen
    assert first.headers["authorization"] == "Bearer tl-123"
    assert "authorization" not in second.headers


def test_reads_are_retried_through_unavailability_and_rate_limits(api: FakeApi, client: Client) -> None:
    api.on(
        "GET",
        "/api/v1/experiments/7",
        error(503, "UNAVAILABLE", "starting"),
        error(429, "RESOURCE_EXHAUSTED", "slow down", Retry_After="0"),
        Answer(200, {"experiment": EXPERIMENT.to_dict()}),
    )
    assert client.get_experiment("7") == EXPERIMENT
    assert len(api.requests_to("GET", "/api/v1/experiments/7")) == 3


def test_unavailability_that_persists_is_reported(api: FakeApi, client: Client) -> None:
    api.on("GET", "/api/v1/experiments/7", error(503, "UNAVAILABLE", "draining"))
    with pytest.raises(ServerUnavailableError) as caught:
        client.get_experiment("7")
    assert caught.value.status == 503
    assert isinstance(caught.value, StoreError)
    assert len(api.seen) == 3


def test_writes_that_are_not_idempotent_are_not_retried(api: FakeApi, client: Client) -> None:
    api.on("POST", "/api/v1/experiments", error(503, "UNAVAILABLE", "draining"))
    with pytest.raises(ServerUnavailableError):
        client.create_experiment("once")
    assert len(api.seen) == 1


def test_no_server_is_a_server_unavailable_error_never_an_httpx_error(api: FakeApi) -> None:
    api.stop()
    with Client(api.url, retries=1) as client, pytest.raises(ServerUnavailableError, match="cannot reach"):
        client.get_experiment("7")


def test_a_timeout_is_a_server_unavailable_error() -> None:
    def hang(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("read timed out", request=request)

    client = Client("http://tracelake.invalid", retries=0, transport=httpx.MockTransport(hang))
    with client, pytest.raises(ServerUnavailableError, match="did not answer in time"):
        client.get_trace(TRACE_ID)


def test_answers_that_are_not_json_are_client_errors() -> None:
    def html(request: httpx.Request) -> httpx.Response:
        status = 200 if request.url.path == "/health" else 500
        return httpx.Response(status, text="<html>proxy error</html>")

    with Client("http://tracelake.invalid", transport=httpx.MockTransport(html)) as client:
        with pytest.raises(ClientError, match="not JSON"):
            client.health()
        with pytest.raises(ClientError, match="proxy error") as caught:
            client.get_experiment("7")
    assert caught.value.status == 500


def test_a_bad_base_url_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="base_url"):
        Client("127.0.0.1:5000")


def test_a_path_prefix_is_kept(api: FakeApi) -> None:
    api.on("GET", "/tracelake/api/v1/experiments/7", {"experiment": EXPERIMENT.to_dict()})
    with Client(api.url + "/tracelake/") as client:
        assert client.get_experiment("7") == EXPERIMENT
