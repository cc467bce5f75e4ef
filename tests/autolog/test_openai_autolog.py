"""autolog with the real `openai` client against the LLM stub: what the stored spans say."""

from __future__ import annotations

import json
from typing import Any

import genai_prices
import httpx
import openai
import pytest

import tracelake
from tracelake.model import Cost, Span
from tracelake.testing import TraceCapture
from tracelake.testing.llm_stub import LLMStub

pytestmark = pytest.mark.usefixtures("autologged")

WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Current weather of a city",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
    },
}


def expected_cost(model: str, input_tokens: int, output_tokens: int, cached: int = 0) -> Cost:
    """The cost genai-prices' own table gives (reasoning tokens are part of the output tokens)."""
    usage = genai_prices.Usage(input_tokens=input_tokens, output_tokens=output_tokens, cache_read_tokens=cached or None)
    price = genai_prices.calc_price(usage, model_ref=model, provider_id="openai")
    return Cost(float(price.input_price), float(price.output_price), float(price.total_price))


def llm_spans(capture: TraceCapture) -> list[Span]:
    return [span for span in capture.spans if span.span_type == "LLM"]


def by_name(capture: TraceCapture, name: str) -> Span:
    return next(span for span in capture.spans if span.name.split(".")[-1] == name)


def assert_cost(span: Span, expected: Cost) -> None:
    assert span.cost is not None
    assert span.cost.input_cost == pytest.approx(expected.input_cost, rel=1e-9)
    assert span.cost.output_cost == pytest.approx(expected.output_cost, rel=1e-9)
    assert span.cost.total_cost == pytest.approx(expected.total_cost, rel=1e-9)


def test_autolog_reports_what_it_traces(autologged: list[str]) -> None:
    assert autologged == ["openai"]
    assert tracelake.autolog(libraries=["openai"]) == ["openai"]  # idempotent


def test_chat_completion_is_an_llm_child_of_the_surrounding_span(
    tracelake_capture: TraceCapture, client: openai.OpenAI
) -> None:
    @tracelake.trace(span_type="AGENT")
    def answer(question: str) -> str | None:
        completion = client.chat.completions.create(
            model="gpt-4o-mini",
            messages=[{"role": "system", "content": "Be brief."}, {"role": "user", "content": question}],
        )
        return completion.choices[0].message.content

    assert answer("where is my order?") == "Echo: where is my order?"

    agent = by_name(tracelake_capture, "answer")
    (llm,) = llm_spans(tracelake_capture)
    assert llm.trace_id == agent.trace_id
    assert llm.parent_id == agent.span_id
    assert llm.model_name == "gpt-4o-mini"
    assert llm.inputs["messages"][-1] == {"role": "user", "content": "where is my order?"}
    assert llm.outputs["choices"][0]["message"]["content"] == "Echo: where is my order?"
    assert llm.token_usage is not None
    usage = llm.token_usage
    assert (usage.input_tokens, usage.output_tokens, usage.total_tokens) == (6, 5, 11)
    assert (usage.cached_input_tokens, usage.reasoning_tokens) == (0, 0)
    assert_cost(llm, expected_cost("gpt-4o-mini", 6, 5))
    assert agent.token_usage is None  # usage belongs to the LLM span; the trace adds it up


def test_streamed_chat_with_usage_in_the_final_chunk(tracelake_capture: TraceCapture, client: openai.OpenAI) -> None:
    with tracelake.start_span("turn", span_type="AGENT") as turn:
        stream = client.chat.completions.create(
            model="gpt-4o",
            messages=[{"role": "user", "content": "tell me a story"}],
            stream=True,
            stream_options={"include_usage": True},
        )
        text = "".join(chunk.choices[0].delta.content or "" for chunk in stream if chunk.choices)

    assert text == "Echo: tell me a story"
    (llm,) = llm_spans(tracelake_capture)
    assert llm.parent_id == turn.span_id
    assert llm.model_name == "gpt-4o"
    assert llm.outputs["choices"][0]["message"]["content"] == "Echo: tell me a story"
    assert llm.token_usage is not None
    assert (llm.token_usage.input_tokens, llm.token_usage.output_tokens) == (4, 5)
    assert_cost(llm, expected_cost("gpt-4o", 4, 5))


def test_chat_cached_and_reasoning_tokens_are_priced(
    tracelake_capture: TraceCapture, stub: LLMStub, client: openai.OpenAI
) -> None:
    prompt = "summarise " + " ".join(f"word{i}" for i in range(99))  # 100 tokens
    stub.add_rule("summarise", "A short summary.", cached_tokens=64, reasoning_tokens=20)

    completion = client.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": prompt}])

    assert completion.usage is not None
    assert completion.usage.completion_tokens == 3 + 20
    (llm,) = llm_spans(tracelake_capture)
    assert llm.token_usage is not None
    assert llm.token_usage.input_tokens == 100
    assert llm.token_usage.cached_input_tokens == 64
    assert llm.token_usage.output_tokens == 23
    assert llm.token_usage.reasoning_tokens == 20
    # gpt-4o-mini's cache reads cost less than fresh input: the cost differs from pricing all 100 alike.
    assert_cost(llm, expected_cost("gpt-4o-mini", 100, 23, cached=64))
    assert llm.cost is not None
    assert llm.cost.input_cost < expected_cost("gpt-4o-mini", 100, 23).input_cost


def _run_tool_loop(client: openai.OpenAI, stream: bool) -> str:
    messages: list[Any] = [{"role": "user", "content": "What is the weather in Paris?"}]
    if stream:
        chunks = list(
            client.chat.completions.create(
                model="gpt-4o-mini",
                messages=messages,
                tools=[WEATHER_TOOL],
                stream=True,
                stream_options={"include_usage": True},
            )
        )
        deltas = [call for c in chunks if c.choices for call in (c.choices[0].delta.tool_calls or [])]
        call_id = next(d.id for d in deltas if d.id)
        name = next(d.function.name for d in deltas if d.function and d.function.name)
        arguments = "".join(d.function.arguments or "" for d in deltas if d.function)
    else:
        first = client.chat.completions.create(model="gpt-4o-mini", messages=messages, tools=[WEATHER_TOOL])
        assert first.choices[0].finish_reason == "tool_calls"
        (call,) = first.choices[0].message.tool_calls or []
        call_id, name, arguments = call.id, call.function.name, call.function.arguments
    assert (name, json.loads(arguments)) == ("get_weather", {"city": "Paris"})
    tool_call = {"id": call_id, "type": "function", "function": {"name": name, "arguments": arguments}}
    messages.append({"role": "assistant", "content": None, "tool_calls": [tool_call]})
    with tracelake.start_span("get_weather", span_type="TOOL") as tool:
        tool.set_outputs("22 degrees and sunny")
    messages.append({"role": "tool", "tool_call_id": call_id, "content": "22 degrees and sunny"})
    final = client.chat.completions.create(model="gpt-4o-mini", messages=messages, tools=[WEATHER_TOOL])
    return final.choices[0].message.content or ""


@pytest.mark.parametrize("stream", [False, True], ids=["plain", "streaming"])
def test_chat_tool_calls(tracelake_capture: TraceCapture, stub: LLMStub, client: openai.OpenAI, stream: bool) -> None:
    stub.add_tool_call("weather", "get_weather", {"city": "Paris"})

    with tracelake.start_span("agent", span_type="AGENT"):
        answer = _run_tool_loop(client, stream)

    assert answer == "Echo: 22 degrees and sunny"
    first, second = llm_spans(tracelake_capture)
    message = first.outputs["choices"][0]["message"]
    assert message["tool_calls"][0]["function"] == {"name": "get_weather", "arguments": '{"city": "Paris"}'}
    assert first.inputs["tools"][0]["function"]["name"] == "get_weather"
    assert second.inputs["messages"][-1]["role"] == "tool"
    agent = by_name(tracelake_capture, "agent")
    tool = by_name(tracelake_capture, "get_weather")
    assert {first.parent_id, second.parent_id, tool.parent_id} == {agent.span_id}
    assert first.token_usage is not None
    assert first.token_usage.output_tokens > 0


def test_responses_api(tracelake_capture: TraceCapture, stub: LLMStub, client: openai.OpenAI) -> None:
    stub.add_rule("refund", "Refunds take 5 days.", cached_tokens=2, reasoning_tokens=7)

    with tracelake.start_span("agent", span_type="AGENT") as agent:
        response = client.responses.create(model="gpt-4o-mini", instructions="Be kind.", input="I want a refund")

    assert response.output_text == "Refunds take 5 days."
    (llm,) = llm_spans(tracelake_capture)
    assert llm.parent_id == agent.span_id
    assert llm.name == "Response"
    assert llm.model_name == "gpt-4o-mini"
    assert llm.inputs["input"] == "I want a refund"
    assert llm.outputs["output"][0]["content"][0]["text"] == "Refunds take 5 days."
    assert llm.token_usage is not None
    usage = llm.token_usage
    assert (usage.input_tokens, usage.output_tokens, usage.cached_input_tokens, usage.reasoning_tokens) == (
        6,
        4 + 7,
        2,
        7,
    )
    assert_cost(llm, expected_cost("gpt-4o-mini", 6, 11, cached=2))


def test_streamed_responses_api(tracelake_capture: TraceCapture, client: openai.OpenAI) -> None:
    with tracelake.start_span("agent", span_type="AGENT"):
        events = list(client.responses.create(model="gpt-4o-mini", input="hello there", stream=True))

    assert events[-1].type == "response.completed"
    (llm,) = llm_spans(tracelake_capture)
    assert llm.outputs["output"][0]["content"][0]["text"] == "Echo: hello there"
    assert llm.token_usage is not None
    assert (llm.token_usage.input_tokens, llm.token_usage.output_tokens) == (2, 3)
    assert_cost(llm, expected_cost("gpt-4o-mini", 2, 3))


@pytest.mark.parametrize("stream", [False, True], ids=["plain", "streaming"])
def test_responses_api_tool_calls(
    tracelake_capture: TraceCapture, stub: LLMStub, client: openai.OpenAI, stream: bool
) -> None:
    stub.add_tool_call("weather", "get_weather", {"city": "Paris"})
    tool = {"type": "function", "name": "get_weather", "parameters": WEATHER_TOOL["function"]["parameters"]}  # type: ignore[index]

    if stream:
        events = list(
            client.responses.create(model="gpt-4o-mini", input="weather in Paris?", tools=[tool], stream=True)
        )
        response = next(e.response for e in events if e.type == "response.completed")
    else:
        response = client.responses.create(model="gpt-4o-mini", input="weather in Paris?", tools=[tool])
    (call,) = [item for item in response.output if item.type == "function_call"]
    follow_up = client.responses.create(
        model="gpt-4o-mini",
        input=[
            {"role": "user", "content": "weather in Paris?"},
            {"type": "function_call", "call_id": call.call_id, "name": call.name, "arguments": call.arguments},
            {"type": "function_call_output", "call_id": call.call_id, "output": "22 degrees"},
        ],
        tools=[tool],
    )

    assert (call.name, json.loads(call.arguments)) == ("get_weather", {"city": "Paris"})
    assert follow_up.output_text == "Echo: 22 degrees"
    first, second = llm_spans(tracelake_capture)
    (item,) = [item for item in first.outputs["output"] if item["type"] == "function_call"]
    assert (item["name"], item["arguments"]) == ("get_weather", '{"city": "Paris"}')
    assert second.inputs["input"][-1]["type"] == "function_call_output"


def test_a_tracelake_span_inside_an_instrumented_call_is_its_child(
    tracelake_capture: TraceCapture, stub: LLMStub
) -> None:
    # An httpx hook runs inside `create()`, while the instrumentor's span is current.
    def hook(request: httpx.Request) -> None:
        with tracelake.start_span("send", span_type="TOOL"):
            pass

    with (
        httpx.Client(event_hooks={"request": [hook]}) as http,
        openai.OpenAI(base_url=stub.base_url, api_key="unused", http_client=http) as client,
        tracelake.start_span("agent", span_type="AGENT") as agent,
    ):
        client.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}])

    (llm,) = llm_spans(tracelake_capture)
    send = by_name(tracelake_capture, "send")
    assert llm.parent_id == agent.span_id
    assert send.parent_id == llm.span_id
    assert send.trace_id == llm.trace_id == agent.trace_id


def test_an_instrumented_call_alone_is_a_trace_of_its_own(
    tracelake_capture: TraceCapture, client: openai.OpenAI
) -> None:
    client.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}])

    (batch,) = tracelake_capture.batches
    (span,) = batch.spans
    assert span.parent_id is None
    assert span.span_type == "LLM"
    assert batch.counted_span_ids == {span.span_id}


def test_embeddings_are_embedding_spans_with_model_and_cost(
    tracelake_capture: TraceCapture, client: openai.OpenAI
) -> None:
    client.embeddings.create(model="text-embedding-3-small", input=["hello world", "bye"])

    (span,) = tracelake_capture.spans
    assert span.span_type == "EMBEDDING"
    assert span.model_name == "text-embedding-3-small"
    assert span.inputs["input"] == ["hello world", "bye"]
    assert span.token_usage is not None
    assert span.token_usage.input_tokens == 3
    assert_cost(span, expected_cost("text-embedding-3-small", 3, 0))
