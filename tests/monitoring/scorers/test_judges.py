"""Built-in LLM judges against the local stub: prompts, deterministic verdicts, garbage, failures, tracing."""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

import pytest

from monitoring.scorers.conftest import NOW_MS, REGISTERED_MS, agent_trace, feedback_of, write
from store.builders import make_span
from tracelake.model import AssessmentSourceType, Trace, TraceData, TraceInfo, TraceState
from tracelake.monitoring import (
    ConversationCompleteness,
    Correctness,
    Guidelines,
    RelevanceToQuery,
    RetrievalGroundedness,
    RetrievalRelevance,
    Safety,
    ScoringContext,
    ToolCallCorrectness,
    UserFrustration,
)
from tracelake.monitoring.scorers.job import ScorerJob
from tracelake.monitoring.scorers.judge_client import JudgeClient, JudgeConfig, JudgeError
from tracelake.monitoring.scorers.judges import LLMJudge, MissingInputError
from tracelake.monitoring.scorers.parsing import JudgeAnswerError, parse_judgement
from tracelake.monitoring.scorers.registry import register_scorer
from tracelake.store import SqlTraceStore
from tracelake.testing.llm_stub import LLMStub


def context(extra: list[Any] | None = None, expectations: dict[str, Any] | None = None) -> ScoringContext:
    batch = agent_trace(7, question="When do you open?", answer="We open at 9am.", extra=extra)
    info = TraceInfo(batch.trace_id, "1", 0, 500, TraceState.OK)
    return ScoringContext(Trace(info, TraceData(batch.spans)), expectations or {})


def prompt_of(stub: LLMStub) -> str:
    body = stub.requests[-1].body
    assert body is not None
    return "\n".join(message["content"] for message in body["messages"])


RETRIEVER = replace(
    make_span(7, 2, 1, 1010, 1020, name="search", outputs=[{"page_content": "Open 9am to 5pm."}]), span_type="RETRIEVER"
)
TOOL = replace(
    make_span(7, 3, 1, 1030, 1040, name="opening_hours", inputs={"day": "monday"}, outputs="9-17"), span_type="TOOL"
)

JUDGES: list[tuple[LLMJudge, ScoringContext, str]] = [
    (Safety(), context(), "We open at 9am."),
    (RelevanceToQuery(), context(), "When do you open?"),
    (Guidelines(name="polite", guidelines=["The response is polite."]), context(), "- The response is polite."),
    (Correctness(), context(expectations={"expected_response": "9am on weekdays"}), "9am on weekdays"),
    (RetrievalGroundedness(), context([RETRIEVER]), "Open 9am to 5pm."),
    (RetrievalRelevance(), context([RETRIEVER]), "Open 9am to 5pm."),
    (ToolCallCorrectness(), context([TOOL]), "opening_hours"),
    (UserFrustration(), context(), "User: "),
    (ConversationCompleteness(), context(), "Assistant: "),
]


@pytest.mark.parametrize(("judge_", "ctx", "expected_in_prompt"), JUDGES, ids=[type(j[0]).__name__ for j in JUDGES])
def test_every_builtin_judge_asks_and_reads_a_verdict(
    judge_: LLMJudge, ctx: ScoringContext, expected_in_prompt: str, judge: JudgeClient, stub: LLMStub
) -> None:
    [feedback] = judge_.judge(ctx, judge)
    # The stub's default judgement: {"score": 5, "verdict": "yes", "rationale": "The LLM stub accepts every answer."}
    assert feedback.value == "yes"
    assert feedback.rationale == "The LLM stub accepts every answer."
    assert feedback.name == judge_.name
    assert expected_in_prompt in prompt_of(stub)
    assert stub.requests[-1].body["response_format"] == {"type": "json_object"}  # type: ignore[index]


def test_rules_give_deterministic_verdicts(judge: JudgeClient, stub: LLMStub) -> None:
    stub.add_rule("The response is polite.", '{"rationale": "It calls the user names.", "value": "no"}')
    stub.add_rule("is the response safe", '```json\n{"verdict": true, "reason": "harmless"}\n```')
    [polite] = Guidelines(name="polite", guidelines="The response is polite.").judge(context(), judge)
    [safe] = Safety().judge(context(), judge)
    assert (polite.value, polite.rationale) == ("no", "It calls the user names.")
    assert (safe.value, safe.rationale) == ("yes", "harmless")


@pytest.mark.parametrize(
    "answer",
    ["I think it is fine.", '{"value": "maybe"}', '{"rationale": "no value"}', "", "{not json"],
)
def test_garbage_answers_raise_a_clear_error(answer: str, judge: JudgeClient, stub: LLMStub) -> None:
    stub.add_rule("is the response safe", answer)
    with pytest.raises(JudgeAnswerError, match="judge"):
        Safety().judge(context(), judge)


def test_parse_finds_json_among_prose() -> None:
    assert parse_judgement('Sure! {"value": "No", "rationale": "x"} hope that helps') == ("No", "x")
    assert parse_judgement('{"a": 1} then {"score": 4}') == (4, None)


def test_missing_inputs_are_named() -> None:
    with pytest.raises(MissingInputError, match="expected_response"):
        Correctness().prompt_fields(context())
    with pytest.raises(MissingInputError, match="RETRIEVER"):
        RetrievalGroundedness().prompt_fields(context())
    with pytest.raises(MissingInputError, match="TOOL"):
        ToolCallCorrectness().prompt_fields(context())
    with pytest.raises(ValueError, match="guideline"):
        Guidelines(guidelines=[])


def test_endpoint_failures_are_judge_errors(judge: JudgeClient, stub: LLMStub) -> None:
    stub.add_rule("is the response safe", status=500, times=1)
    with pytest.raises(JudgeError) as failure:
        Safety().judge(context(), judge)
    assert failure.value.code == "JUDGE_HTTP_500"
    unreachable = JudgeClient(JudgeConfig(base_url="http://127.0.0.1:9/v1", model="m", timeout_s=2))
    with pytest.raises(JudgeError) as down:
        Safety().judge(context(), unreachable)
    assert down.value.code == "JUDGE_UNAVAILABLE"
    unreachable.close()


def test_a_hanging_endpoint_times_out() -> None:
    import socket

    with socket.socket() as server:  # accepts connections, never answers
        server.bind(("127.0.0.1", 0))
        server.listen()
        port = server.getsockname()[1]
        client = JudgeClient(JudgeConfig(base_url=f"http://127.0.0.1:{port}/v1", model="m", timeout_s=0.3))
        with pytest.raises(JudgeError) as failure:
            Safety().judge(context(), client)
        client.close()
    assert failure.value.code == "JUDGE_TIMEOUT"


def test_the_worker_writes_judge_assessments_and_traces_the_calls(
    store: SqlTraceStore, experiment_id: str, job: ScorerJob, stub: LLMStub
) -> None:
    stub.add_rule("The response is polite.", '{"value": "no", "rationale": "Curt."}')
    register_scorer(
        Guidelines(name="polite", guidelines=["The response is polite."]),
        "support-agent",
        store=store,
        now_ms=REGISTERED_MS,
    )
    [trace] = write(store, experiment_id, agent_trace(1))
    job.run_due(NOW_MS)

    [assessment] = feedback_of(store, trace, "polite")
    assert assessment.value == "no" and assessment.rationale == "Curt."
    assert assessment.source.source_type is AssessmentSourceType.LLM_JUDGE
    assert assessment.source.source_id == "polite"
    assert assessment.metadata["judge_model"] == "gpt-4o-mini"

    judges = store.get_experiment_by_name("support-agent-judges")
    assert judges is not None
    judge_trace = store.get_trace(assessment.metadata["judge_trace_id"])
    assert judge_trace.info.experiment_id == judges.experiment_id
    assert judge_trace.info.metadata["scored_trace_id"] == trace
    [span] = judge_trace.data.spans
    assert span.model_name == "gpt-4o-mini"
    assert span.token_usage is not None and span.token_usage.input_tokens > 0
    assert span.cost is not None and span.cost.total_cost > 0
    assert "The response is polite." in json.dumps(span.inputs)


def test_garbage_and_outages_become_error_assessments_then_recover(
    store: SqlTraceStore, experiment_id: str, job: ScorerJob, stub: LLMStub
) -> None:
    stub.add_rule("is the response safe", "the model rambles", times=1)
    stub.add_rule("is the response safe", status=503, times=1)
    register_scorer(Safety(), "support-agent", store=store, now_ms=REGISTERED_MS)
    [trace] = write(store, experiment_id, agent_trace(1))

    job.run_due(NOW_MS)
    [first] = feedback_of(store, trace, "safety")
    assert first.error is not None and first.error.error_code == "JUDGE_ANSWER_INVALID"
    assert "the model rambles" in first.error.error_message
    job.run_due(NOW_MS + 30_000)
    [second] = feedback_of(store, trace, "safety")
    assert second.error is not None and second.error.error_code == "JUDGE_HTTP_503"
    job.run_due(NOW_MS + 90_000)
    [final] = feedback_of(store, trace, "safety")
    assert final.error is None and final.value == "yes"


def test_session_judges_wait_for_the_session_to_go_quiet(
    store: SqlTraceStore, experiment_id: str, job: ScorerJob, stub: LLMStub
) -> None:
    register_scorer(UserFrustration(), "support-agent", store=store, now_ms=REGISTERED_MS)
    session = {"metadata": {"session_id": "s-1"}}
    first, second = write(
        store,
        experiment_id,
        agent_trace(1, question="Where is my order?", answer="Which order?", **session),
        agent_trace(2, question="Order 42, I said it already!", answer="It ships today.", **session),
    )
    write(store, experiment_id, agent_trace(3))  # no session: not judged
    idle_ms = int(job.settings.session_idle_s * 1000)
    last_start = REGISTERED_MS + 1000 + 20
    job.run_due(last_start + idle_ms - 1)
    assert stub.requests == []
    job.run_due(last_start + idle_ms + 1)
    assert feedback_of(store, first, "user_frustration") == []
    [verdict] = feedback_of(store, second, "user_frustration")
    assert verdict.value == "yes"
    prompt = prompt_of(stub)
    assert prompt.index("Where is my order?") < prompt.index("I said it already!")
    assert len(stub.requests) == 1
