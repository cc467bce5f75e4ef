"""Conventions are planned once per attribute-key shape: the plan must not leak values between spans."""

from __future__ import annotations

from tracelake.ingest import CONVENTIONS_ATTRIBUTE, normalize
from tracelake.model import (
    EventRecord,
    SpanAttributes,
    TokenUsage,
    TraceMetadataKey,
)

from .records import T0, js, record


def test_spans_of_one_shape_keep_their_own_values() -> None:
    first = record("s1", attributes={SpanAttributes.SPAN_TYPE: "TOOL", SpanAttributes.INPUTS: js({"a": 1})})
    second = record("s2", "s1", attributes={SpanAttributes.SPAN_TYPE: "CHAIN", SpanAttributes.INPUTS: js([2])})
    [batch] = normalize([first, second])
    assert [(span.span_type, span.inputs) for span in batch.spans] == [("TOOL", {"a": 1}), ("CHAIN", [2])]


def test_a_shape_uses_otel_genai_only_for_spans_with_genai_events() -> None:
    attributes = {SpanAttributes.SPAN_TYPE: "LLM"}
    events = (EventRecord("gen_ai.user.message", T0, {"content": "Hi"}),)
    [batch] = normalize([record("s1", attributes=attributes, events=events), record("s2", "s1", attributes=attributes)])
    with_events, without = batch.spans
    assert with_events.attributes[CONVENTIONS_ATTRIBUTE] == ["tracelake", "otel_genai"]
    assert with_events.inputs == {"messages": [{"role": "user", "content": "Hi"}]}
    assert without.attributes[CONVENTIONS_ATTRIBUTE] == ["tracelake"]
    assert without.inputs is None


def test_llm_and_trace_keys_are_read_beside_the_span_keys() -> None:
    attributes = {
        SpanAttributes.SPAN_TYPE: "LLM",
        SpanAttributes.INPUTS: js("q"),
        SpanAttributes.MODEL: "my-model",
        SpanAttributes.TOKEN_USAGE: js({"input_tokens": 3, "output_tokens": 4}),
        SpanAttributes.TRACE_TAGS: js({"k": "v"}),
    }
    [batch] = normalize([record(attributes=attributes)])
    [span] = batch.spans
    assert (span.span_type, span.inputs, span.model_name) == ("LLM", "q", "my-model")
    assert span.token_usage == TokenUsage(3, 4, 7)
    assert batch.fields.tags == {"k": "v"}


def test_identity_keys_fill_the_session_and_user_of_any_span() -> None:
    [batch] = normalize([record(attributes={"session.id": "s-1", "enduser.id": 42})])
    assert batch.fields.metadata == {TraceMetadataKey.SESSION: "s-1", TraceMetadataKey.USER: "42"}


def test_genai_usage_needs_a_count_key() -> None:
    tool = {"gen_ai.operation.name": "execute_tool", "gen_ai.provider.name": "openai"}
    llm = {"gen_ai.system": "openai", "gen_ai.response.model": "", "gen_ai.request.model": "gpt-4o-mini"}
    [batch] = normalize(
        [record("s1", attributes=tool), record("s2", "s1", attributes=llm | {"llm.usage.total_tokens": 9})]
    )
    tool_span, llm_span = batch.spans
    assert (tool_span.span_type, tool_span.token_usage) == ("TOOL", None)
    assert (llm_span.span_type, llm_span.model_name) == ("LLM", "gpt-4o-mini")
    assert llm_span.token_usage == TokenUsage(total_tokens=9)
