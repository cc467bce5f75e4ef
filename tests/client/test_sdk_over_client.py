"""The SDK's read functions against a server URI: the same calls as in embedded mode, over the client."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

import tracelake
from tracelake._remote import ClientBackend
from tracelake.client import ServerUnavailableError
from tracelake.model import (
    Assessment,
    AssessmentKind,
    AssessmentSource,
    Experiment,
    Span,
    SpanStatus,
    Trace,
    TraceData,
    TraceInfo,
    TraceState,
)

from .fake_api import Answer, FakeApi, error

TRACE_ID = "0af7651916cd43dd8448eb211c80319c"
EXPERIMENT = Experiment("7", "support-agent", "/data/artifacts/7")
TRACE = Trace(
    TraceInfo(TRACE_ID, "7", 1_750_000_000_000, 12, TraceState.OK, name="answer"),
    TraceData([Span(TRACE_ID, "b7ad6b7169203331", None, "answer", "AGENT", 10, 20, SpanStatus())]),
)
BY_NAME = "/api/v1/experiments/by-name/support-agent"


@pytest.fixture
def api(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeApi]:
    server = FakeApi().start()
    monkeypatch.setenv("TRACELAKE_TRACKING_URI", server.url)
    yield server
    server.stop()


def test_set_experiment_creates_it_on_the_server_and_traces_follow(api: FakeApi) -> None:
    api.on("GET", BY_NAME, error(404, "NOT_FOUND", "no experiment named 'support-agent'"))
    api.on("POST", "/api/v1/experiments", Answer(201, {"experiment": EXPERIMENT.to_dict()}))
    assert tracelake.set_experiment("support-agent") == EXPERIMENT
    assert api.requests_to("POST", "/api/v1/experiments")[0].body == {"name": "support-agent"}
    with tracelake.start_span("after"):
        pass
    assert tracelake.flush(30) is True
    (otlp,) = api.requests_to("POST", "/v1/traces")
    assert otlp.headers["x-tracelake-experiment-id"] == "7"


def test_set_experiment_by_id(api: FakeApi) -> None:
    api.on("GET", "/api/v1/experiments/7", {"experiment": EXPERIMENT.to_dict()})
    assert tracelake.set_experiment(experiment_id="7") == EXPERIMENT
    with pytest.raises(tracelake.NotFoundError):
        tracelake.set_experiment(experiment_id="8")


def test_a_name_created_concurrently_is_found_not_duplicated(api: FakeApi) -> None:
    api.on(
        "GET",
        BY_NAME,
        error(404, "NOT_FOUND", "none yet"),
        Answer(200, {"experiment": EXPERIMENT.to_dict()}),
    )
    api.on("POST", "/api/v1/experiments", error(409, "CONFLICT", "name is taken"))
    assert tracelake.set_experiment("support-agent") == EXPERIMENT


def test_search_and_get_read_from_the_server(api: FakeApi, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRACELAKE_EXPERIMENT_NAME", "support-agent")
    api.on("GET", BY_NAME, {"experiment": EXPERIMENT.to_dict()})
    api.on("POST", "/api/v1/traces/search", {"traces": [TRACE.to_dict()], "next_page_token": "next"})
    api.on("GET", f"/api/v1/traces/{TRACE_ID}", {"trace": TRACE.to_dict()})
    api.on("GET", "/api/v1/traces/" + "f" * 32, error(404, "NOT_FOUND", "no trace"))
    page = tracelake.search_traces(filter_string="status = 'OK'", max_results=5)
    assert list(page) == [TRACE]
    assert page.next_page_token == "next"
    assert api.requests_to("POST", "/api/v1/traces/search")[0].body == {
        "experiment_ids": ["7"],  # the current experiment, resolved by name on the server
        "filter": "status = 'OK'",
        "max_results": 5,
        "include_spans": True,
    }
    assert tracelake.get_trace(TRACE_ID) == TRACE
    with pytest.raises(tracelake.NotFoundError):
        tracelake.get_trace("f" * 32)


def test_bad_filters_are_query_errors(api: FakeApi) -> None:
    api.on("POST", "/api/v1/traces/search", error(400, "INVALID_ARGUMENT", "expected a value", position=9))
    with pytest.raises(tracelake.QueryError) as caught:
        tracelake.search_traces(["7"], "status = ")
    assert caught.value.position == 9


def test_delete_and_lookup_by_name(api: FakeApi) -> None:
    api.on("POST", "/api/v1/traces/delete", {"deleted": 2})
    api.on("GET", BY_NAME, error(404, "NOT_FOUND", "none"))
    assert tracelake.delete_traces("7", trace_ids=[TRACE_ID, "f" * 32]) == 2
    assert api.requests_to("POST", "/api/v1/traces/delete")[0].body == {
        "experiment_id": "7",
        "trace_ids": [TRACE_ID, "f" * 32],
    }
    assert tracelake.get_experiment_by_name("support-agent") is None


def test_the_token_is_used_for_reads_too(api: FakeApi, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRACELAKE_TOKEN", "tl-read")
    api.on("GET", BY_NAME, {"experiment": EXPERIMENT.to_dict()})
    tracelake.get_experiment_by_name("support-agent")
    assert api.requests_to("GET", BY_NAME)[0].headers["authorization"] == "Bearer tl-read"


def test_an_unreachable_server_is_a_store_error(api: FakeApi) -> None:
    api.stop()
    with pytest.raises(tracelake.StoreError) as caught:
        tracelake.search_traces(["7"])
    assert isinstance(caught.value, ServerUnavailableError)


def test_sdk_feedback_goes_to_the_server(api: FakeApi) -> None:
    stored = Assessment("a-9", TRACE_ID, "thumbs_up", AssessmentKind.FEEDBACK, False, AssessmentSource(), 1, 1)
    api.on("POST", f"/api/v1/traces/{TRACE_ID}/assessments", Answer(201, {"assessment": stored.to_dict()}))
    assert tracelake.log_feedback(TRACE_ID, name="thumbs_up", value=False, rationale="wrong city") == stored
    sent = api.requests_to("POST", f"/api/v1/traces/{TRACE_ID}/assessments")[0].body
    assert (sent["name"], sent["kind"], sent["value"], sent["rationale"]) == (
        "thumbs_up",
        "feedback",
        False,
        "wrong city",
    )


def test_backend_assessments_and_tags(api: FakeApi) -> None:
    assessment = Assessment(
        "a-1", TRACE_ID, "helpful", AssessmentKind.FEEDBACK, True, AssessmentSource(), 1, 1, experiment_id="7"
    )
    created = Answer(201, {"assessment": assessment.to_dict()})
    api.on("POST", f"/api/v1/traces/{TRACE_ID}/assessments", created)
    api.on("POST", "/api/v1/experiments/7/assessments", created)
    api.on("GET", f"/api/v1/traces/{TRACE_ID}/assessments", {"assessments": [assessment.to_dict()]})
    api.on("PATCH", f"/api/v1/traces/{TRACE_ID}/assessments/a-1", {"assessment": assessment.to_dict()})
    api.on("DELETE", f"/api/v1/traces/{TRACE_ID}/assessments/a-1", Answer(204))
    api.on("PUT", f"/api/v1/traces/{TRACE_ID}/tags/k", Answer(204))
    api.on("DELETE", f"/api/v1/traces/{TRACE_ID}/tags/k", Answer(204))
    backend = ClientBackend(api.url, {})
    try:
        body = {"name": "helpful", "kind": "feedback", "value": True}
        assert backend.create_assessment(body, trace_id=TRACE_ID) == assessment
        assert backend.create_assessment(body, client_request_id="req-1", experiment_id="7") == assessment
        assert api.requests_to("POST", "/api/v1/experiments/7/assessments")[0].body["client_request_id"] == "req-1"
        assert backend.list_assessments(TRACE_ID) == [assessment]
        assert backend.update_assessment(TRACE_ID, "a-1", {"rationale": "why"}) == assessment
        backend.delete_assessment(TRACE_ID, "a-1")
        backend.set_trace_tag(TRACE_ID, "k", "v")
        backend.delete_trace_tag(TRACE_ID, "k")
    finally:
        backend.close()
    assert [s.method for s in api.seen][-4:] == ["PATCH", "DELETE", "PUT", "DELETE"]
