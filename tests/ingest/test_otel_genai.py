from __future__ import annotations

import pytest

from tracelake.ingest import CONVENTIONS_ATTRIBUTE, normalize
from tracelake.model import EventRecord, TokenUsage

from .records import T0, js, record

INPUT_MESSAGES = [
    {"role": "user", "parts": [{"type": "text", "content": "Weather in Paris?"}]},
]
OUTPUT_MESSAGES = [
    {"role": "assistant", "parts": [{"type": "text", "content": "Sunny."}], "finish_reason": "stop"},
]

CURRENT_CHAT_SPAN = {
    "gen_ai.operation.name": "chat",
    "gen_ai.provider.name": "openai",
    "gen_ai.request.model": "gpt-4o-mini",
    "gen_ai.response.model": "gpt-4o-mini-2024-07-18",
    "gen_ai.request.temperature": 0.2,
    "gen_ai.response.finish_reasons": ["stop"],
    "gen_ai.usage.input_tokens": 100,
    "gen_ai.usage.output_tokens": 20,
    "gen_ai.usage.cache_read.input_tokens": 60,
    "gen_ai.usage.reasoning.output_tokens": 8,
    "gen_ai.system_instructions": js([{"type": "text", "content": "Be brief."}]),
    "gen_ai.input.messages": js(INPUT_MESSAGES),
    "gen_ai.output.messages": js(OUTPUT_MESSAGES),
    "gen_ai.conversation.id": "conv-1",
    "server.address": "api.openai.com",
}

# The same call as instrumentations emit it by default (semantic conventions <= 1.36).
OLD_CHAT_SPAN = {
    "gen_ai.operation.name": "chat",
    "gen_ai.system": "openai",
    "gen_ai.request.model": "gpt-4o-mini",
    "gen_ai.usage.prompt_tokens": 100,
    "gen_ai.usage.completion_tokens": 20,
    "gen_ai.prompt": js([{"role": "user", "content": "Weather in Paris?"}]),
    "gen_ai.completion": js([{"role": "assistant", "content": "Sunny."}]),
}


def test_current_generation_chat_span() -> None:
    [batch] = normalize([record(attributes=CURRENT_CHAT_SPAN, name="chat gpt-4o-mini")])
    [span] = batch.spans
    assert span.span_type == "CHAT_MODEL"
    assert span.model_name == "gpt-4o-mini-2024-07-18"
    assert span.token_usage == TokenUsage(
        input_tokens=100, output_tokens=20, total_tokens=120, cached_input_tokens=60, reasoning_tokens=8
    )
    assert span.cost is not None
    assert span.inputs == {
        "system_instructions": [{"type": "text", "content": "Be brief."}],
        "messages": INPUT_MESSAGES,
    }
    assert span.outputs == {"messages": OUTPUT_MESSAGES}
    assert "gen_ai.input.messages" not in span.attributes
    assert span.attributes["server.address"] == "api.openai.com"
    assert span.attributes[CONVENTIONS_ATTRIBUTE] == ["otel_genai"]
    assert batch.fields.metadata["session_id"] == "conv-1"
    assert batch.fields.request_preview == "Weather in Paris?"
    assert batch.fields.response_preview == "Sunny."


def test_older_generation_chat_span() -> None:
    [batch] = normalize([record(attributes=OLD_CHAT_SPAN)])
    [span] = batch.spans
    assert span.span_type == "CHAT_MODEL"
    assert span.model_name == "gpt-4o-mini"
    assert span.token_usage == TokenUsage(input_tokens=100, output_tokens=20, total_tokens=120)
    assert span.cost is not None
    assert span.inputs == {"messages": [{"role": "user", "content": "Weather in Paris?"}]}
    assert span.outputs == {"messages": [{"role": "assistant", "content": "Sunny."}]}
    assert batch.fields.request_preview == "Weather in Paris?"
    assert batch.fields.response_preview == "Sunny."


def test_flattened_prompt_and_completion() -> None:
    attributes = {
        "gen_ai.system": "anthropic",
        "gen_ai.request.model": "claude-3-5-haiku-latest",
        "gen_ai.prompt.0.role": "system",
        "gen_ai.prompt.0.content": "Be brief.",
        "gen_ai.prompt.1.role": "user",
        "gen_ai.prompt.1.content": "Hi",
        "gen_ai.completion.0.role": "assistant",
        "gen_ai.completion.0.content": "Hello!",
    }
    [batch] = normalize([record(attributes=attributes)])
    [span] = batch.spans
    assert span.span_type == "LLM"  # no operation name, but a model: an LLM call
    assert span.inputs == {"messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"}]}
    assert span.outputs == {"messages": [{"role": "assistant", "content": "Hello!"}]}
    assert not any(key.startswith(("gen_ai.prompt.", "gen_ai.completion.")) for key in span.attributes)


def test_deprecated_message_events() -> None:
    events = (
        EventRecord("gen_ai.system.message", T0, {"content": "Be brief."}),
        EventRecord("gen_ai.user.message", T0, {"content": "Hi"}),
        EventRecord(
            "gen_ai.choice",
            T0,
            {"gen_ai.event.content": js({"index": 0, "message": {"role": "assistant", "content": "Hello!"}})},
        ),
    )
    [batch] = normalize([record(attributes={"gen_ai.operation.name": "chat"}, events=events)])
    [span] = batch.spans
    assert span.inputs == {"messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"}]}
    assert span.outputs == {"messages": [{"role": "assistant", "content": "Hello!"}]}
    assert [event.name for event in span.events] == ["gen_ai.system.message", "gen_ai.user.message", "gen_ai.choice"]


def test_events_alone_mark_the_convention() -> None:
    events = (EventRecord("gen_ai.user.message", T0, {"content": "Hi"}),)
    [batch] = normalize([record(events=events)])
    assert batch.spans[0].inputs == {"messages": [{"role": "user", "content": "Hi"}]}
    assert batch.spans[0].attributes[CONVENTIONS_ATTRIBUTE] == ["otel_genai"]


def test_operation_details_event() -> None:
    events = (
        EventRecord(
            "gen_ai.client.inference.operation.details",
            T0,
            {"gen_ai.input.messages": js(INPUT_MESSAGES), "gen_ai.output.messages": js(OUTPUT_MESSAGES)},
        ),
    )
    [batch] = normalize([record(attributes={"gen_ai.operation.name": "chat"}, events=events)])
    assert batch.spans[0].inputs == {"messages": INPUT_MESSAGES}
    assert batch.spans[0].outputs == {"messages": OUTPUT_MESSAGES}


def test_tool_execution_span() -> None:
    attributes = {
        "gen_ai.operation.name": "execute_tool",
        "gen_ai.tool.name": "get_weather",
        "gen_ai.tool.call.id": "call_1",
        "gen_ai.tool.call.arguments": js({"city": "Paris"}),
        "gen_ai.tool.call.result": js({"forecast": "sunny"}),
    }
    [batch] = normalize([record(attributes=attributes)])
    [span] = batch.spans
    assert span.span_type == "TOOL"
    assert span.inputs == {"city": "Paris"}
    assert span.outputs == {"forecast": "sunny"}
    assert span.attributes["gen_ai.tool.name"] == "get_weather"


def test_tool_name_without_operation_is_a_tool() -> None:
    [batch] = normalize([record(attributes={"gen_ai.tool.name": "search"})])
    assert batch.spans[0].span_type == "TOOL"


@pytest.mark.parametrize(
    ("operation", "span_type"),
    [
        ("chat", "CHAT_MODEL"),
        ("text_completion", "LLM"),
        ("generate_content", "LLM"),
        ("embeddings", "EMBEDDING"),
        ("retrieval", "RETRIEVER"),
        ("execute_tool", "TOOL"),
        ("invoke_agent", "AGENT"),
        ("create_agent", "AGENT"),
        ("invoke_workflow", "CHAIN"),
        ("something_new", "SOMETHING_NEW"),
    ],
)
def test_operation_names(operation: str, span_type: str) -> None:
    [batch] = normalize([record(attributes={"gen_ai.operation.name": operation})])
    assert batch.spans[0].span_type == span_type
