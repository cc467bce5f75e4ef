"""The LLM stub's tool calls and detailed usage, through the real `openai` client."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import openai
import pytest

from tracelake.testing.llm_stub import LLMStub, StubRule, ToolCall

TOOLS: list[Any] = [{"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object"}}}]
RESPONSES_TOOLS: list[Any] = [{"type": "function", "name": "get_weather", "parameters": {"type": "object"}}]


@pytest.fixture
def stub() -> Iterator[LLMStub]:
    with LLMStub() as server:
        server.add_tool_call("weather", "get_weather", {"city": "Paris"})
        yield server


@pytest.fixture
def client(stub: LLMStub) -> Iterator[openai.OpenAI]:
    with openai.OpenAI(base_url=stub.base_url, api_key="unused", max_retries=0) as c:
        yield c


def test_chat_tool_call(client: openai.OpenAI) -> None:
    completion = client.chat.completions.create(
        model="gpt-4o-mini", messages=[{"role": "user", "content": "weather in Paris?"}], tools=TOOLS
    )

    choice = completion.choices[0]
    assert choice.finish_reason == "tool_calls"
    assert choice.message.content is None
    (call,) = choice.message.tool_calls or []
    assert call.type == "function"
    assert call.id.startswith("call")
    assert (call.function.name, json.loads(call.function.arguments)) == ("get_weather", {"city": "Paris"})
    assert completion.usage is not None
    assert completion.usage.completion_tokens == 3  # "get_weather", '{"city":', '"Paris"}'


def test_streamed_chat_tool_call_reassembles(client: openai.OpenAI) -> None:
    chunks = list(
        client.chat.completions.create(
            model="gpt-4o-mini", messages=[{"role": "user", "content": "weather?"}], tools=TOOLS, stream=True
        )
    )

    deltas = [call for chunk in chunks for call in (chunk.choices[0].delta.tool_calls or [])]
    assert deltas[0].id and deltas[0].function and deltas[0].function.name == "get_weather"
    arguments = "".join((d.function.arguments or "") for d in deltas if d.function)
    assert json.loads(arguments) == {"city": "Paris"}
    assert chunks[-1].choices[0].finish_reason == "tool_calls"


def test_the_tool_result_gets_an_answer_not_the_same_call(stub: LLMStub, client: openai.OpenAI) -> None:
    stub.add_rule("22 degrees", "It is 22 degrees in Paris.")
    messages: list[Any] = [
        {"role": "user", "content": "weather in Paris?"},
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {"id": "call_1", "type": "function", "function": {"name": "get_weather", "arguments": "{}"}},
            ],
        },
        {"role": "tool", "tool_call_id": "call_1", "content": "22 degrees"},
    ]

    completion = client.chat.completions.create(model="gpt-4o-mini", messages=messages, tools=TOOLS)

    assert completion.choices[0].message.content == "It is 22 degrees in Paris."
    assert completion.choices[0].message.tool_calls is None


def test_responses_tool_call_and_follow_up(client: openai.OpenAI) -> None:
    response = client.responses.create(model="gpt-4o-mini", input="weather in Paris?", tools=RESPONSES_TOOLS)

    (call,) = response.output
    assert call.type == "function_call"
    assert (call.name, json.loads(call.arguments)) == ("get_weather", {"city": "Paris"})
    follow_up = client.responses.create(
        model="gpt-4o-mini",
        input=[
            {"role": "user", "content": "weather in Paris?"},
            {"type": "function_call", "call_id": call.call_id, "name": call.name, "arguments": call.arguments},
            {"type": "function_call_output", "call_id": call.call_id, "output": "sunny"},
        ],
    )
    assert follow_up.output_text == "Echo: sunny"


def test_streamed_responses_tool_call_events(client: openai.OpenAI) -> None:
    events = list(client.responses.create(model="gpt-4o-mini", input="weather?", tools=RESPONSES_TOOLS, stream=True))

    types = [event.type for event in events]
    assert types[0] == "response.created"
    assert "response.function_call_arguments.delta" in types
    done = next(e for e in events if e.type == "response.function_call_arguments.done")
    assert json.loads(done.arguments) == {"city": "Paris"}
    completed = events[-1]
    assert completed.type == "response.completed"
    assert completed.response.output[0].type == "function_call"
    assert [e.sequence_number for e in events] == list(range(len(events)))


def test_text_and_several_calls_in_one_answer() -> None:
    rule = StubRule("plan", "Let me check both.", tool_calls=[ToolCall("a", {"x": 1}), ToolCall("b", '{"y": 2}')])
    with LLMStub(rules=[rule]) as stub, openai.OpenAI(base_url=stub.base_url, api_key="unused") as client:
        response = client.responses.create(model="m", input="plan it")
        completion = client.chat.completions.create(model="m", messages=[{"role": "user", "content": "plan it"}])

    assert [item.type for item in response.output] == ["message", "function_call", "function_call"]
    assert response.output_text == "Let me check both."
    message = completion.choices[0].message
    assert message.content == "Let me check both."
    assert [c.function.name for c in message.tool_calls or []] == ["a", "b"]


def test_cached_and_reasoning_tokens_are_reported(stub: LLMStub, client: openai.OpenAI) -> None:
    stub.add_rule("think", "Done.", cached_tokens=2, reasoning_tokens=10)

    completion = client.chat.completions.create(model="o3-mini", messages=[{"role": "user", "content": "think hard"}])
    response = client.responses.create(model="o3-mini", input="think hard")

    usage = completion.usage
    assert usage is not None
    assert (usage.prompt_tokens, usage.completion_tokens) == (2, 1 + 10)
    assert usage.prompt_tokens_details is not None
    assert usage.prompt_tokens_details.cached_tokens == 2
    assert usage.completion_tokens_details is not None
    assert usage.completion_tokens_details.reasoning_tokens == 10
    assert response.usage is not None
    assert response.usage.input_tokens_details.cached_tokens == 2
    assert response.usage.output_tokens_details.reasoning_tokens == 10
    assert response.usage.output_tokens == 11
