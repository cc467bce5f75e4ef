"""POST /feedback: end users' thumbs and comments land on the endpoint's traces, and only there."""

from __future__ import annotations

from collections.abc import Callable

import httpx
import pytest

import tracelake
from tracelake.agents import ResponsesAgent

from .conftest import Endpoint

Serve = Callable[..., Endpoint]


def ask(endpoint: Endpoint, client_request_id: str | None = None) -> str:
    headers = {} if client_request_id is None else {"x-tracelake-client-request-id": client_request_id}
    answer = httpx.post(endpoint.url + "/v1/responses", json={"input": "where is my order?"}, headers=headers)
    assert answer.status_code == 200
    return answer.headers["x-tracelake-trace-id"]


def test_thumbs_and_comment_sent_right_after_the_answer_are_stored_as_human_feedback(
    serve: Serve, support_agent: ResponsesAgent
) -> None:
    endpoint = serve(support_agent)
    trace_id = ask(endpoint)
    # No flush in between: the endpoint waits for its own trace to be stored.
    answer = httpx.post(
        endpoint.url + "/feedback",
        json={"trace_id": trace_id, "value": False, "comment": "it has not arrived", "user_id": "user-42"},
    )
    assert answer.status_code == 201
    stored = answer.json()
    assert stored["trace_id"] == trace_id and stored["name"] == "thumbs_up" and stored["value"] is False
    (feedback,) = tracelake.get_assessments(trace_id)
    assert feedback.assessment_id == stored["assessment_id"]
    assert (feedback.name, feedback.value, feedback.rationale) == ("thumbs_up", False, "it has not arrived")
    assert feedback.source.source_type.value == "HUMAN" and feedback.source.source_id == "user-42"
    assert feedback.metadata == {"endpoint_name": "support"}


def test_feedback_by_client_request_id_and_a_comment_alone(serve: Serve, support_agent: ResponsesAgent) -> None:
    endpoint = serve(support_agent)
    trace_id = ask(endpoint, client_request_id="req-77")
    answer = httpx.post(endpoint.url + "/feedback", json={"client_request_id": "req-77", "comment": "thanks!"})
    assert answer.status_code == 201 and answer.json()["trace_id"] == trace_id
    (feedback,) = tracelake.get_assessments(trace_id)
    assert (feedback.name, feedback.value) == ("comment", "thanks!")
    # After a restart the endpoint no longer remembers the id: it is looked up in the store.
    other = serve(support_agent)
    again = httpx.post(other.url + "/feedback", json={"client_request_id": "req-77", "value": True})
    assert again.status_code == 201 and again.json()["trace_id"] == trace_id


def test_feedback_for_an_unknown_trace_is_a_404_and_stores_nothing(serve: Serve, support_agent: ResponsesAgent) -> None:
    endpoint = serve(support_agent)
    trace_id = ask(endpoint)
    for body in ({"trace_id": "0" * 32, "value": True}, {"client_request_id": "never-sent", "value": True}):
        answer = httpx.post(endpoint.url + "/feedback", json=body)
        assert answer.status_code == 404
        assert answer.json()["error"]["type"] == "not_found_error"
    tracelake.flush(30)
    assert tracelake.get_assessments(trace_id) == []


def test_feedback_for_another_endpoints_trace_is_a_404(serve: Serve, support_agent: ResponsesAgent) -> None:
    support = serve(support_agent, endpoint_name="support")
    billing = serve(support_agent, endpoint_name="billing")
    trace_id = ask(support, client_request_id="req-s")
    assert tracelake.flush(30)
    for body in ({"trace_id": trace_id, "value": True}, {"client_request_id": "req-s", "value": True}):
        assert httpx.post(billing.url + "/feedback", json=body).status_code == 404
    assert tracelake.get_assessments(trace_id) == []
    assert httpx.post(support.url + "/feedback", json={"trace_id": trace_id, "value": True}).status_code == 201


@pytest.mark.parametrize(
    ("body", "phrase"),
    [
        ({"value": True}, "exactly one of trace_id and client_request_id"),
        ({"trace_id": "a", "client_request_id": "b", "value": True}, "exactly one of trace_id and client_request_id"),
        ({"trace_id": "a"}, "a thumbs up/down"),
        ({"trace_id": "a", "value": "yes"}, "'value'"),
        ({"trace_id": "a", "value": True, "stars": 5}, "'stars'"),
    ],
)
def test_invalid_feedback_is_a_400(
    serve: Serve, support_agent: ResponsesAgent, body: dict[str, object], phrase: str
) -> None:
    endpoint = serve(support_agent)
    answer = httpx.post(endpoint.url + "/feedback", json=body)
    assert answer.status_code == 400
    assert phrase in answer.json()["error"]["message"]
