"""The serving endpoint with the real `openai` client, over an embedded store: answers, traces, errors."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator

import httpx
import openai
import pytest

import tracelake
from tracelake.agents import (
    ResponsesAgent,
    ResponsesRequest,
    ResponsesResponse,
    ResponsesStreamEvent,
    function_call_item,
    output_item_done_event,
    text_delta_event,
    text_output_item,
)

from .conftest import Endpoint, stored_trace

Serve = Callable[..., Endpoint]


class WeatherAgent(ResponsesAgent):
    """Asks the caller to run a tool, then answers from the tool's output."""

    def predict(self, request: ResponsesRequest) -> ResponsesResponse:
        last = request.input[-1]
        if last.type == "function_call_output":
            return ResponsesResponse(output=[text_output_item(f"It is {last.output} in Paris.")])
        return ResponsesResponse(output=[function_call_item("get_weather", {"city": "Paris"}, call_id="call_1")])


class StreamingAgent(ResponsesAgent):
    def predict_stream(self, request: ResponsesRequest) -> Iterator[ResponsesStreamEvent]:
        with tracelake.start_span("plan", span_type="CHAIN"):
            pass
        for word in ("Hello", " from", " a", " stream"):
            yield text_delta_event(word, item_id="msg_stream")
        yield output_item_done_event(text_output_item("Hello from a stream", id="msg_stream"))


class AsyncStreamingAgent(ResponsesAgent):
    async def predict_stream(self, request: ResponsesRequest) -> AsyncIterator[ResponsesStreamEvent]:
        yield text_delta_event("async ", item_id="msg_a")
        yield text_delta_event("words", item_id="msg_a")  # never closed: the endpoint closes it


class FailingAgent(ResponsesAgent):
    def predict(self, request: ResponsesRequest) -> ResponsesResponse:
        raise ValueError("the knowledge base is down")


class FailingMidStream(ResponsesAgent):
    def predict_stream(self, request: ResponsesRequest) -> Iterator[ResponsesStreamEvent]:
        yield text_delta_event("partial", item_id="msg_p")
        raise RuntimeError("lost the connection to the LLM")


def test_the_openai_client_gets_an_answer_and_the_trace_holds_the_request(
    serve: Serve, support_agent: ResponsesAgent
) -> None:
    endpoint = serve(support_agent, model_name="main.support.agent", model_version="3")
    raw = endpoint.openai().responses.with_raw_response.create(
        model="support",
        input="where is my order?",
        extra_body={"context": {"conversation_id": "conv-9", "user_id": "user-42"}},
        extra_headers={"x-tracelake-client-request-id": "req-1"},
    )
    response = raw.parse()
    assert response.output_text == "Your order has shipped."
    assert response.usage is not None and response.usage.input_tokens > 0
    trace_id = raw.headers["x-tracelake-trace-id"]
    assert response.metadata == {"trace_id": trace_id, "client_request_id": "req-1"}
    assert response.model == "main.support.agent"

    trace = stored_trace(trace_id)
    info = trace.info
    assert info.client_request_id == "req-1"
    assert info.metadata["endpoint_name"] == "support"
    assert info.metadata["model_name"] == "main.support.agent"
    assert info.metadata["model_version"] == "3"
    assert info.metadata["environment"] == "production"
    assert info.metadata["session_id"] == "conv-9"
    assert info.metadata["user_id"] == "user-42"
    experiment = tracelake.get_experiment_by_name("support-agent")
    assert experiment is not None and info.experiment_id == experiment.experiment_id
    root = trace.data.root_span
    assert root is not None and root.name == "support" and root.parent_id is None
    assert root.inputs["input"] == "where is my order?"
    assert root.outputs["output"][0]["content"][0]["text"] == "Your order has shipped."
    assert root.outputs == raw.http_response.json()  # exactly the answer the caller got
    by_name = {span.name: span for span in trace.data.spans}
    agent_span = by_name["SupportAgent.predict"]
    assert agent_span.span_type == "AGENT" and agent_span.parent_id == root.span_id
    assert agent_span.inputs["request"]["input"][0]["content"] == "where is my order?"
    assert agent_span.outputs["custom_outputs"] == {"facts": {"status": "shipped"}}
    assert by_name["lookup_order"].parent_id == agent_span.span_id
    assert by_name["llm"].parent_id == agent_span.span_id
    assert info.request_preview == "where is my order?"
    assert info.response_preview == "Your order has shipped."


def test_a_client_request_id_in_the_body_wins_and_user_falls_back_to_the_openai_field(
    serve: Serve, support_agent: ResponsesAgent
) -> None:
    endpoint = serve(support_agent)
    raw = endpoint.openai().responses.with_raw_response.create(
        model="m",
        input="hi",
        user="user-7",
        metadata={"channel": "web"},
        extra_body={"client_request_id": "body-id"},
        extra_headers={"x-tracelake-client-request-id": "header-id"},
    )
    response = raw.parse()
    assert response.metadata == {
        "channel": "web",
        "trace_id": raw.headers["x-tracelake-trace-id"],
        "client_request_id": "body-id",
    }
    info = stored_trace(raw.headers["x-tracelake-trace-id"]).info
    assert (info.client_request_id, info.metadata["user_id"]) == ("body-id", "user-7")


def test_streaming_with_the_openai_client_a_predict_only_agent(serve: Serve, support_agent: ResponsesAgent) -> None:
    endpoint = serve(support_agent)
    events = list(endpoint.openai().responses.create(model="m", input="where is my order?", stream=True))
    types = [event.type for event in events]
    assert types[:2] == ["response.created", "response.in_progress"]
    assert types[-1] == "response.completed"
    assert "response.output_item.added" in types and "response.output_item.done" in types
    assert [event.sequence_number for event in events] == list(range(len(events)))
    text = "".join(event.delta for event in events if event.type == "response.output_text.delta")
    assert text == "Your order has shipped."
    completed = events[-1].response
    trace_id = completed.metadata["trace_id"]
    assert completed.output_text == text and completed.usage is not None
    trace = stored_trace(trace_id)
    names = {span.name for span in trace.data.spans}
    assert {"support", "SupportAgent.predict", "lookup_order", "llm"} <= names
    assert trace.data.root_span is not None
    assert trace.data.root_span.outputs["output"][0]["content"][0]["text"] == text


def test_streaming_agent_through_the_stream_helper_and_reduced_on_its_span(serve: Serve) -> None:
    endpoint = serve(StreamingAgent())
    with endpoint.openai().responses.stream(model="m", input="hi") as stream:
        deltas = [event.delta for event in stream if event.type == "response.output_text.delta"]
        final = stream.get_final_response()
    assert deltas == ["Hello", " from", " a", " stream"]
    assert final.output_text == "Hello from a stream"
    trace = stored_trace(final.metadata["trace_id"])  # type: ignore[index]
    agent_span = next(span for span in trace.data.spans if span.span_type == "AGENT")
    assert agent_span.name == "StreamingAgent.predict_stream"
    assert agent_span.outputs["output"][0]["content"][0]["text"] == "Hello from a stream"
    plan = next(span for span in trace.data.spans if span.name == "plan")
    assert plan.parent_id == agent_span.span_id


def test_an_async_stream_left_open_is_completed_by_the_endpoint(serve: Serve) -> None:
    endpoint = serve(AsyncStreamingAgent())
    events = list(endpoint.openai().responses.create(model="m", input="hi", stream=True))
    assert events[-1].type == "response.completed"
    assert events[-1].response.output_text == "async words"
    done = [event for event in events if event.type == "response.output_item.done"]
    assert len(done) == 1 and done[0].item.status == "completed"
    # A plain request to a stream-only agent gets the reduced response.
    assert endpoint.openai().responses.create(model="m", input="hi").output_text == "async words"


def test_a_tool_call_comes_back_as_a_function_call_item_and_its_output_goes_back_in(serve: Serve) -> None:
    client = serve(WeatherAgent()).openai()
    first = client.responses.create(model="m", input="weather in Paris?")
    (call,) = first.output
    assert call.type == "function_call"
    assert (call.name, call.call_id, call.arguments) == ("get_weather", "call_1", '{"city": "Paris"}')
    follow_up = [
        {"role": "user", "content": "weather in Paris?"},
        call.model_dump(exclude_none=True),
        {"type": "function_call_output", "call_id": "call_1", "output": "sunny"},
    ]
    assert client.responses.create(model="m", input=follow_up).output_text == "It is sunny in Paris."
    streamed = list(client.responses.create(model="m", input="weather?", stream=True))
    kinds = [event.type for event in streamed]
    assert "response.function_call_arguments.done" in kinds
    assert streamed[-1].response.output[0].type == "function_call"


def test_invocations_and_health(serve: Serve, support_agent: ResponsesAgent) -> None:
    endpoint = serve(support_agent, model_name="main.support.agent", model_version="3")
    answer = httpx.post(endpoint.url + "/invocations", json={"input": [{"role": "user", "content": "order?"}]})
    assert answer.status_code == 200
    body = answer.json()
    assert body["output"][0]["content"][0]["text"] == "Your order has shipped."
    assert body["metadata"]["trace_id"] == answer.headers["x-tracelake-trace-id"]
    assert body["custom_outputs"] == {"facts": {"status": "shipped"}}
    health = httpx.get(endpoint.url + "/health").json()
    assert health == {
        "status": "ok",
        "endpoint_name": "support",
        "model_name": "main.support.agent",
        "model_version": "3",
    }


@pytest.mark.parametrize(
    ("body", "param", "phrase"),
    [
        ({"model": "m"}, "input", "Missing required parameter: 'input'"),
        ({"input": [{"role": "robot", "content": "hi"}]}, "input[0].role", "'user', 'assistant'"),
        ({"input": [{"type": "mystery"}]}, "input[0]", "unsupported input item"),
        ({"input": [{"role": "user", "content": [{"type": "input_text"}]}]}, "input[0].content[0].text", "Missing"),
        ({"input": [{"role": "user", "content": 7}]}, "input[0].content", "valid string or a valid list"),
        ({"input": [{"type": "function_call", "name": "f", "call_id": "c"}]}, "input[0].arguments", "Missing"),
        ({"input": "hi", "temperature": "hot"}, "temperature", "valid number"),
        ({"input": "hi", "context": {"user_id": 5}}, "context.user_id", "valid string"),
        ({"input": []}, "input", "at least 1 item"),
    ],
)
def test_an_invalid_request_is_a_400_in_the_openai_format(
    serve: Serve, support_agent: ResponsesAgent, body: dict[str, object], param: str, phrase: str
) -> None:
    endpoint = serve(support_agent)
    answer = httpx.post(endpoint.url + "/v1/responses", json=body)
    assert answer.status_code == 400
    error = answer.json()["error"]
    assert set(error) == {"message", "type", "param", "code"}
    assert error["type"] == "invalid_request_error" and error["param"] == param
    assert phrase in error["message"]
    assert "x-tracelake-trace-id" not in answer.headers


def test_malformed_bodies_are_400_and_the_openai_client_raises_bad_request(
    serve: Serve, support_agent: ResponsesAgent
) -> None:
    endpoint = serve(support_agent)
    for content in (b"{not json", b"[1, 2]", b""):
        answer = httpx.post(
            endpoint.url + "/v1/responses", content=content, headers={"content-type": "application/json"}
        )
        assert answer.status_code == 400 and answer.json()["error"]["code"] == "invalid_json"
    with pytest.raises(openai.BadRequestError) as caught:
        endpoint.openai().responses.create(model="m", input=[{"role": "nobody", "content": "x"}])  # type: ignore[list-item]
    assert "input[0].role" in str(caught.value)
    assert httpx.get(endpoint.url + "/nowhere").json()["error"]["type"] == "not_found_error"
    assert httpx.get(endpoint.url + "/v1/responses").status_code == 405


def test_a_body_over_the_limit_is_413(serve: Serve, support_agent: ResponsesAgent) -> None:
    endpoint = serve(support_agent, max_body_bytes=1000)
    answer = httpx.post(endpoint.url + "/v1/responses", json={"input": "x" * 2000})
    assert answer.status_code == 413 and answer.json()["error"]["code"] == "body_too_large"
    assert httpx.post(endpoint.url + "/v1/responses", json={"input": "order?"}).status_code == 200


def test_an_agent_that_raises_is_a_500_and_an_error_trace(serve: Serve) -> None:
    endpoint = serve(FailingAgent())
    answer = httpx.post(endpoint.url + "/v1/responses", json={"input": "hi"})
    assert answer.status_code == 500
    error = answer.json()["error"]
    trace_id = answer.headers["x-tracelake-trace-id"]
    assert error["type"] == "server_error" and error["code"] == "agent_error"
    assert "ValueError" in error["message"] and trace_id in error["message"]
    assert "knowledge base" not in error["message"]  # details stay in the trace, not with the caller
    trace = stored_trace(trace_id)
    assert trace.info.state.value == "ERROR"
    agent_span = next(span for span in trace.data.spans if span.span_type == "AGENT")
    assert agent_span.status.code.value == "ERROR"
    exception = next(event for event in agent_span.events if event.name == "exception")
    assert exception.attributes["exception.message"] == "the knowledge base is down"
    # Streaming: a failure before the first event is the same 500.
    streamed = httpx.post(endpoint.url + "/v1/responses", json={"input": "hi", "stream": True})
    assert streamed.status_code == 500 and streamed.json()["error"]["code"] == "agent_error"
    with pytest.raises(openai.InternalServerError):
        endpoint.openai().responses.create(model="m", input="hi")
    assert httpx.get(endpoint.url + "/health").status_code == 200


def test_an_agent_failing_mid_stream_ends_the_stream_with_response_failed(serve: Serve) -> None:
    endpoint = serve(FailingMidStream())
    events = list(endpoint.openai().responses.create(model="m", input="hi", stream=True))
    assert events[-1].type == "response.failed"
    failed = events[-1].response
    assert failed.status == "failed" and failed.error is not None and "RuntimeError" in failed.error.message
    trace = stored_trace(failed.metadata["trace_id"])
    assert trace.info.state.value == "ERROR"
