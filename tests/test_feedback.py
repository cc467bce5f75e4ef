"""Feedback and expectations from the SDK, in embedded mode, as an app that collects thumbs up/down does."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

import tracelake
from tracelake.model import AssessmentError, AssessmentKind, AssessmentSource, AssessmentSourceType


@tracelake.trace
def agent(question: str, request_id: str | None = None) -> str | None:
    """Answer, and return the trace id (as a serving endpoint returns it to its client)."""
    if request_id is not None:
        tracelake.update_current_trace(client_request_id=request_id)
    with tracelake.start_span("retrieve"):
        pass
    return tracelake.get_current_trace_id()


def run(question: str, request_id: str | None = None) -> str:
    """Run the agent and return its trace id, once the trace is stored."""
    trace_id = agent(question, request_id)
    assert trace_id is not None
    assert tracelake.flush(30) is True
    return trace_id


def test_thumbs_up_and_down_with_a_comment_by_trace_id() -> None:
    tracelake.set_experiment("support-agent")
    trace_id = run("refund policy")

    up = tracelake.log_feedback(trace_id, name="thumbs_up", value=True, source_id="user-1")
    down = tracelake.log_feedback(
        trace_id, name="thumbs_up", value=False, rationale="it ignored my order number", source_id="user-2"
    )

    assert up.assessment_id != down.assessment_id
    assert (down.trace_id, down.kind, down.value) == (trace_id, "feedback", False)
    assert down.source == AssessmentSource(AssessmentSourceType.HUMAN, "user-2")
    experiment = tracelake.get_experiment_by_name("support-agent")
    assert experiment is not None and down.experiment_id == experiment.experiment_id
    shown = tracelake.get_trace(trace_id).info.assessments
    assert [(a.value, a.rationale) for a in shown] == [(True, None), (False, "it ignored my order number")]


def test_feedback_by_client_request_id_in_the_current_experiment() -> None:
    tracelake.set_experiment("support-agent")
    trace_id = run("opening hours", request_id="req-123")

    feedback = tracelake.log_feedback(client_request_id="req-123", name="thumbs_up", value=True)
    expectation = tracelake.log_expectation(
        client_request_id="req-123", value="We open at 9am.", source_type="HUMAN", source_id="reviewer"
    )

    assert feedback.trace_id == expectation.trace_id == trace_id
    assert expectation.kind is AssessmentKind.EXPECTATION
    assert expectation.name == "expected_response"
    assert [a.name for a in tracelake.get_assessments(trace_id)] == ["thumbs_up", "expected_response"]


def test_client_request_id_in_the_default_experiment_and_explicitly() -> None:
    trace_id = run("shipping times", request_id="req-default")

    by_default = tracelake.log_feedback(client_request_id="req-default", value=1)
    default = tracelake.get_experiment_by_name("Default")
    assert default is not None
    explicit = tracelake.log_feedback(client_request_id="req-default", value=0, experiment_id=default.experiment_id)

    assert by_default.trace_id == explicit.trace_id == trace_id
    with pytest.raises(tracelake.NotFoundError, match="req-other"):
        tracelake.log_feedback(client_request_id="req-other", value=1)


def test_update_and_delete() -> None:
    trace_id = run("cancel order")
    feedback = tracelake.log_feedback(trace_id, name="rating", value=2, metadata={"ui": "stars"})

    updated = tracelake.update_assessment(trace_id, feedback.assessment_id, value=4, rationale="better on retry")

    assert (updated.value, updated.rationale, updated.metadata) == (4, "better on retry", {"ui": "stars"})
    assert updated.last_update_time_ms >= feedback.last_update_time_ms
    cleared = tracelake.update_assessment(trace_id, feedback.assessment_id, rationale=None, metadata={})
    assert (cleared.value, cleared.rationale, cleared.metadata) == (4, None, {})
    tracelake.delete_assessment(trace_id, feedback.assessment_id)
    assert tracelake.get_trace(trace_id).info.assessments == []
    with pytest.raises(tracelake.NotFoundError):
        tracelake.delete_assessment(trace_id, feedback.assessment_id)


def test_judge_feedback_on_a_span_with_an_error() -> None:
    trace_id = run("store address")
    span_id = next(s.span_id for s in tracelake.get_trace(trace_id).data.spans if s.name == "retrieve")

    failed = tracelake.log_feedback(
        trace_id,
        name="groundedness",
        span_id=span_id,
        source_type=AssessmentSourceType.LLM_JUDGE,
        source_id="gpt-4o-mini",
        error=TimeoutError("judge timed out"),
    )

    assert failed.value is None
    assert failed.span_id == span_id
    assert failed.error == AssessmentError("TimeoutError", "judge timed out")
    rescored = tracelake.update_assessment(trace_id, failed.assessment_id, value=0.8, error=None)
    assert (rescored.value, rescored.error) == (0.8, None)


def test_bad_input_raises_a_clear_error_and_stores_nothing() -> None:
    trace_id = run("gift cards")

    with pytest.raises(tracelake.NotFoundError, match="no trace"):
        tracelake.log_feedback("f" * 32, value=True)
    with pytest.raises(tracelake.ConfigError, match="exactly one of trace_id and client_request_id"):
        tracelake.log_feedback(value=True)
    with pytest.raises(tracelake.ConfigError, match="'value'"):
        tracelake.log_feedback(trace_id, value=object())
    with pytest.raises(tracelake.ConfigError, match="'value'"):
        tracelake.log_feedback(trace_id)
    with pytest.raises(tracelake.ConfigError, match="'name'"):
        tracelake.log_feedback(trace_id, name="", value=True)
    with pytest.raises(tracelake.ConfigError, match=r"'source\.source_type'"):
        tracelake.log_feedback(trace_id, value=True, source_type="ROBOT")
    with pytest.raises(tracelake.ConfigError, match="'span_id'"):
        tracelake.log_feedback(trace_id, value=True, span_id="0" * 16)
    with pytest.raises(tracelake.ConfigError, match=r"'metadata\.n'"):
        tracelake.log_feedback(trace_id, value=True, metadata={"n": 1})  # type: ignore[dict-item]
    with pytest.raises(tracelake.ConfigError, match=r"'value'.*expectation"):
        tracelake.log_expectation(trace_id)
    assert tracelake.get_assessments(trace_id) == []
    feedback = tracelake.log_feedback(trace_id, value=True)
    with pytest.raises(tracelake.ConfigError, match="at least one"):
        tracelake.update_assessment(trace_id, feedback.assessment_id)
    with pytest.raises(tracelake.ConfigError, match="source_type"):
        tracelake.update_assessment(trace_id, feedback.assessment_id, source_id="someone")
    assert tracelake.get_assessments(trace_id) == [feedback]


def test_deleting_the_trace_deletes_its_feedback() -> None:
    experiment = tracelake.set_experiment("retention")
    trace_id = run("old request")
    tracelake.log_feedback(trace_id, value=True)

    assert tracelake.delete_traces(experiment.experiment_id, trace_ids=[trace_id]) == 1
    with pytest.raises(tracelake.NotFoundError):
        tracelake.get_assessments(trace_id)


@pytest.fixture
def server_url(tmp_path: Path) -> Iterator[str]:
    """A real `tracelake server` app, served by uvicorn on a loopback port in a thread."""
    import uvicorn

    from tracelake.server import ServerSettings, create_app

    app = create_app(ServerSettings.for_home(tmp_path / "server-home"))
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning", lifespan="on"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "the server did not start"
        time.sleep(0.01)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(30)


def test_the_same_calls_work_against_a_server(server_url: str) -> None:
    tracelake.configure(tracking_uri=server_url, experiment_name="remote-agent")
    trace_id = run("remote question", request_id="req-remote")

    up = tracelake.log_feedback(client_request_id="req-remote", name="thumbs_up", value=True, source_id="u-1")
    expected = tracelake.log_expectation(trace_id, value={"answer": "yes"})
    changed = tracelake.update_assessment(trace_id, up.assessment_id, value=False, rationale="on second thought")

    assert up.trace_id == trace_id
    assert (changed.value, changed.rationale) == (False, "on second thought")
    assert [a.assessment_id for a in tracelake.get_trace(trace_id).info.assessments] == [
        up.assessment_id,
        expected.assessment_id,
    ]
    # The server's 400 names the field too (the client raises it as a TracelakeError).
    with pytest.raises(tracelake.TracelakeError, match="'name'"):
        tracelake.log_feedback(trace_id, name="", value=True)
    with pytest.raises(tracelake.NotFoundError):
        tracelake.log_feedback("e" * 32, value=True)
    tracelake.delete_assessment(trace_id, up.assessment_id)
    assert tracelake.get_assessments(trace_id) == [expected]
