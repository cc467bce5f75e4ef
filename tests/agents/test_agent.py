"""ResponsesAgent in-process: AGENT spans with no code in the agent, derived predict/predict_stream, types."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator

import pytest
from pydantic import ValidationError

from tracelake.agents import (
    FunctionCall,
    Message,
    OutputMessage,
    ResponsesAgent,
    ResponsesRequest,
    ResponsesResponse,
    ResponsesStreamEvent,
    function_call_item,
    output_item_done_event,
    reduce_stream,
    response_events,
    text_delta_event,
    text_output_item,
)
from tracelake.testing import TraceCapture


class Echo(ResponsesAgent):
    def predict(self, request: ResponsesRequest) -> ResponsesResponse:
        return ResponsesResponse(output=[text_output_item("Echo: " + request.input[-1].text)])  # type: ignore[union-attr]


class DictAgent(ResponsesAgent):
    def predict(self, request: ResponsesRequest) -> dict[str, object]:  # type: ignore[override]
        return {"output": [{"type": "message", "content": [{"type": "output_text", "text": "from a dict"}]}]}


class Streamer(ResponsesAgent):
    def predict_stream(self, request: ResponsesRequest) -> Iterator[ResponsesStreamEvent]:
        yield text_delta_event("Hel", "msg_1")
        yield text_delta_event("lo", "msg_1")
        yield output_item_done_event(text_output_item("Hello", id="msg_1"))
        yield output_item_done_event(function_call_item("search", {"q": "x"}, call_id="call_9"))


class AsyncEcho(ResponsesAgent):
    async def predict(self, request: ResponsesRequest) -> ResponsesResponse:
        await asyncio.sleep(0)
        return ResponsesResponse(output=[text_output_item("async")])


class AsyncStreamer(ResponsesAgent):
    async def predict_stream(self, request: ResponsesRequest) -> AsyncIterator[ResponsesStreamEvent]:
        yield text_delta_event("a", "msg_a")
        yield text_delta_event("b", "msg_a")


def test_predict_is_an_agent_span_with_the_request_and_response(tracelake_capture: TraceCapture) -> None:
    response = Echo().predict({"input": "hi"})
    assert isinstance(response, ResponsesResponse) and response.output_text == "Echo: hi"
    (span,) = tracelake_capture.spans
    assert (span.name, span.span_type) == ("Echo.predict", "AGENT")
    assert span.inputs["request"]["input"][0]["content"] == "hi"
    assert span.outputs["output"][0]["content"][0]["text"] == "Echo: hi"


def test_a_dict_returned_by_predict_is_validated_into_a_response(tracelake_capture: TraceCapture) -> None:
    assert DictAgent().predict({"input": "x"}).output_text == "from a dict"


def test_predict_stream_is_one_span_reduced_to_the_final_output(tracelake_capture: TraceCapture) -> None:
    events = list(Streamer().predict_stream({"input": "hi"}))
    assert [event.type for event in events][:2] == ["response.output_text.delta"] * 2
    (span,) = tracelake_capture.spans
    assert (span.name, span.span_type) == ("Streamer.predict_stream", "AGENT")
    outputs = span.outputs["output"]
    assert outputs[0]["content"][0]["text"] == "Hello"
    assert outputs[1]["type"] == "function_call" and outputs[1]["call_id"] == "call_9"


def test_predict_of_a_streaming_agent_collects_its_stream(tracelake_capture: TraceCapture) -> None:
    response = Streamer().predict({"input": "hi"})
    assert response.output_text == "Hello"
    assert isinstance(response.output[1], FunctionCall)
    assert [span.name for span in tracelake_capture.spans] == ["Streamer.predict_stream"]


def test_predict_stream_of_a_plain_agent_replays_its_response(tracelake_capture: TraceCapture) -> None:
    events = list(Echo().predict_stream({"input": "hi"}))
    assert [event.type for event in events] == [
        "response.output_text.delta",
        "response.output_item.done",
        "response.completed",
    ]
    assert reduce_stream(events).output_text == "Echo: hi"
    assert [span.name for span in tracelake_capture.spans] == ["Echo.predict"]


async def test_async_agents_are_traced_too(tracelake_capture: TraceCapture) -> None:
    assert (await AsyncEcho().predict({"input": "x"})).output_text == "async"
    events = [event async for event in AsyncStreamer().predict_stream({"input": "x"})]
    assert reduce_stream(events).output_text == "ab"
    assert [(s.name, s.span_type) for s in tracelake_capture.spans] == [
        ("AsyncEcho.predict", "AGENT"),
        ("AsyncStreamer.predict_stream", "AGENT"),
    ]
    with pytest.raises(TypeError, match="async"):
        AsyncStreamer().predict({"input": "x"})


def test_an_agent_must_implement_predict_or_predict_stream() -> None:
    class Nothing(ResponsesAgent):
        pass

    with pytest.raises(TypeError, match="must implement predict or predict_stream"):
        Nothing()


def test_an_exception_in_predict_is_recorded_and_reraised(tracelake_capture: TraceCapture) -> None:
    class Broken(ResponsesAgent):
        def predict(self, request: ResponsesRequest) -> ResponsesResponse:
            raise KeyError("missing")

    with pytest.raises(KeyError):
        Broken().predict({"input": "x"})
    (span,) = tracelake_capture.spans
    assert span.status.code.value == "ERROR"


def test_values_json_cannot_hold_are_still_recorded_in_the_agent_span(tracelake_capture: TraceCapture) -> None:
    class Opaque:
        def __repr__(self) -> str:
            return "<Opaque handle>"

    class Custom(ResponsesAgent):
        def predict(self, request: ResponsesRequest) -> ResponsesResponse:
            return ResponsesResponse(output=[text_output_item("ok")], custom_outputs={"handle": Opaque()})

    response = Custom().predict({"input": "x", "custom_inputs": {"handle": Opaque(), "n": 1}})
    assert response.output_text == "ok"
    (span,) = tracelake_capture.spans
    assert span.inputs["request"]["custom_inputs"] == {"handle": "<Opaque handle>", "n": 1}
    assert span.outputs["custom_outputs"] == {"handle": "<Opaque handle>"}
    assert span.outputs["output"][0]["content"][0]["text"] == "ok"


def test_config_defaults_to_an_empty_dict_and_can_be_set() -> None:
    agent = Echo()
    assert agent.config == {}
    agent.config = {"temperature": 0.1}
    assert agent.config == {"temperature": 0.1}


def test_requests_accept_the_responses_api_shapes() -> None:
    request = ResponsesRequest.model_validate(
        {
            "model": "gpt",
            "input": [
                {"role": "system", "content": "be brief"},
                {
                    "type": "message",
                    "role": "user",
                    "content": [
                        {"type": "input_text", "text": "hi "},
                        {"type": "input_image", "image_url": "http://x/y.png"},
                    ],
                },
                {"type": "function_call", "call_id": "c1", "name": "f", "arguments": "{}"},
                {"type": "function_call_output", "call_id": "c1", "output": "42"},
                {"type": "reasoning", "id": "rs_1", "summary": []},
            ],
            "context": {"conversation_id": "c-1", "user_id": "u-1"},
            "custom_inputs": {"k": 1},
            "a_field_from_a_newer_client": True,
        }
    )
    first, second = request.input[0], request.input[1]
    assert isinstance(first, Message) and first.text == "be brief"
    assert isinstance(second, Message) and second.text == "hi "
    assert [item.type for item in request.input[2:]] == ["function_call", "function_call_output", "reasoning"]
    assert (request.conversation_id, request.user_id) == ("c-1", "u-1")
    only_text = ResponsesRequest.model_validate({"input": "hello"})
    assert isinstance(only_text.input[0], Message) and only_text.input[0].role == "user"
    assert ResponsesRequest.model_validate({"input": "x", "conversation": {"id": "conv_2"}}).conversation_id == "conv_2"
    with pytest.raises(ValidationError):
        ResponsesRequest.model_validate({"input": [{"role": "user"}]})


def test_responses_and_stream_helpers_round_trip() -> None:
    message = text_output_item("Hi", id="msg_x")
    call = function_call_item("lookup", '{"id": 1}')
    assert isinstance(message, OutputMessage) and message.text == "Hi"
    assert call.call_id.startswith("call_") and call.id and call.id.startswith("fc_")
    response = ResponsesResponse(output=[message, call], custom_outputs={"score": 1})
    replayed = reduce_stream(response_events(response))
    assert replayed.output == response.output and replayed.custom_outputs == {"score": 1}
    # Deltas of a message that was never finished still count; dicts are accepted as events.
    assert reduce_stream([{"type": "response.output_text.delta", "item_id": "m", "delta": "x"}]).output_text == "x"
    usage = ResponsesResponse.model_validate({"usage": {"input_tokens": 3, "output_tokens": 4}}).usage
    assert usage is not None and usage.total_tokens == 7
