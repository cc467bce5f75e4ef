from __future__ import annotations

import pytest

from tracelake.ingest import CONVENTIONS_ATTRIBUTE, normalize
from tracelake.model import Cost, SpanAttributes, SpanStatus, StatusCode, TokenUsage, TraceMetadataKey

from .records import js, record

ROOT_ATTRIBUTES = {
    SpanAttributes.SPAN_TYPE: "AGENT",
    SpanAttributes.FUNCTION_NAME: "app.agent.answer",
    SpanAttributes.INPUTS: js({"question": "What is tracelake?"}),
    SpanAttributes.OUTPUTS: js("A tracing platform."),
    SpanAttributes.TRACE_TAGS: js({"release": "1.2.3"}),
    SpanAttributes.TRACE_METADATA: js(
        {"session_id": "s-1", "user_id": "u-1", "client_request_id": "req-42", "environment": "prod"}
    ),
}
LLM_ATTRIBUTES = {
    SpanAttributes.SPAN_TYPE: "CHAT_MODEL",
    SpanAttributes.INPUTS: js({"messages": [{"role": "user", "content": "hi"}]}),
    SpanAttributes.OUTPUTS: js({"choices": [{"message": {"role": "assistant", "content": "hello"}}]}),
    SpanAttributes.MODEL: "gpt-4o-mini",
    SpanAttributes.PROVIDER: "openai",
    SpanAttributes.TOKEN_USAGE: js(
        {"input_tokens": 1000, "output_tokens": 500, "cached_input_tokens": 200, "reasoning_tokens": 0}
    ),
}


def test_tracelake_root_span_maps_every_field() -> None:
    [batch] = normalize([record("a" * 16, None, ROOT_ATTRIBUTES, status=StatusCode.OK)])
    [span] = batch.spans

    assert span.span_type == "AGENT"
    assert span.inputs == {"question": "What is tracelake?"}
    assert span.outputs == "A tracing platform."
    assert span.status == SpanStatus(StatusCode.OK)
    assert span.parent_id is None
    assert span.model_name is None
    assert span.token_usage is None
    assert span.cost is None
    # Raw attributes are kept, except the payloads that became inputs/outputs.
    assert SpanAttributes.INPUTS not in span.attributes
    assert SpanAttributes.OUTPUTS not in span.attributes
    assert span.attributes[SpanAttributes.FUNCTION_NAME] == "app.agent.answer"
    assert span.attributes[CONVENTIONS_ATTRIBUTE] == ["tracelake"]

    fields = batch.fields
    assert fields.tags == {"release": "1.2.3"}
    assert fields.metadata[TraceMetadataKey.SESSION] == "s-1"
    assert fields.metadata[TraceMetadataKey.USER] == "u-1"
    assert fields.metadata[TraceMetadataKey.ENVIRONMENT] == "prod"
    assert fields.client_request_id == "req-42"
    assert fields.request_preview == "What is tracelake?"
    assert fields.response_preview == "A tracing platform."


def test_tracelake_llm_span_gets_usage_and_computed_cost() -> None:
    [batch] = normalize([record("b" * 16, None, LLM_ATTRIBUTES)])
    [span] = batch.spans

    assert span.model_name == "gpt-4o-mini"
    assert span.token_usage == TokenUsage(
        input_tokens=1000, output_tokens=500, total_tokens=1500, cached_input_tokens=200
    )
    assert span.cost is not None
    # gpt-4o-mini: $0.15/M input, $0.075/M cache read, $0.60/M output.
    assert span.cost.input_cost == pytest.approx(800 * 0.15e-6 + 200 * 0.075e-6)
    assert span.cost.output_cost == pytest.approx(500 * 0.6e-6)
    assert span.cost.total_cost == pytest.approx(span.cost.input_cost + span.cost.output_cost)
    assert batch.counted_span_ids == frozenset({"b" * 16})
    assert batch.fields.request_preview == "hi"
    assert batch.fields.response_preview == "hello"


def test_explicit_cost_is_never_overwritten() -> None:
    explicit = {**LLM_ATTRIBUTES, SpanAttributes.COST: js({"input_cost": 1, "output_cost": 2, "total_cost": 3})}
    [batch] = normalize([record(attributes=explicit)])
    assert batch.spans[0].cost == Cost(1.0, 2.0, 3.0)


def test_explicit_null_cost_stays_null() -> None:
    [batch] = normalize([record(attributes={**LLM_ATTRIBUTES, SpanAttributes.COST: "null"})])
    assert batch.spans[0].cost is None
    assert batch.spans[0].token_usage is not None


def test_total_tokens_defaults_to_input_plus_output() -> None:
    attributes = {**LLM_ATTRIBUTES, SpanAttributes.TOKEN_USAGE: js({"input_tokens": 7, "output_tokens": 5})}
    [batch] = normalize([record(attributes=attributes)])
    assert batch.spans[0].token_usage == TokenUsage(input_tokens=7, output_tokens=5, total_tokens=12)


def test_bad_json_is_kept_as_the_raw_string() -> None:
    attributes = {
        SpanAttributes.SPAN_TYPE: "TOOL",
        SpanAttributes.INPUTS: '{"truncated": ',
        SpanAttributes.OUTPUTS: "not json at all",
        SpanAttributes.TOKEN_USAGE: "{oops",
        SpanAttributes.TRACE_TAGS: "[1, 2",
        SpanAttributes.TRACE_METADATA: js(["not", "an", "object"]),
    }
    [batch] = normalize([record(attributes=attributes)])
    [span] = batch.spans
    assert span.inputs == '{"truncated": '
    assert span.outputs == "not json at all"
    assert span.token_usage is None
    assert batch.fields.tags == {}
    assert batch.fields.metadata == {}
    assert batch.fields.request_preview == '{"truncated": '


def test_non_string_metadata_values_become_json_and_nulls_are_dropped() -> None:
    attributes = {SpanAttributes.TRACE_METADATA: js({"n": 3, "flag": True, "gone": None, "s": "x"})}
    [batch] = normalize([record(attributes=attributes)])
    assert batch.fields.metadata == {"n": "3", "flag": "true", "s": "x"}


def test_preview_overrides_win_over_computed_previews() -> None:
    attributes = {
        **ROOT_ATTRIBUTES,
        SpanAttributes.TRACE_REQUEST_PREVIEW: "custom request",
        SpanAttributes.TRACE_RESPONSE_PREVIEW: "custom\x00 response",
    }
    [batch] = normalize([record(attributes=attributes)])
    assert batch.fields.request_preview == "custom request"
    assert batch.fields.response_preview == "custom response"


def test_unknown_span_type_is_unknown_and_custom_types_pass_through() -> None:
    batches = normalize(
        [record("1" * 16, attributes={}), record("2" * 16, "1" * 16, {SpanAttributes.SPAN_TYPE: "MY_STEP"})]
    )
    assert [span.span_type for span in batches[0].spans] == ["UNKNOWN", "MY_STEP"]
    assert CONVENTIONS_ATTRIBUTE not in batches[0].spans[0].attributes
