"""ResponseStreamWriter: whatever an agent yields, the wire carries the whole Responses event lifecycle."""

from __future__ import annotations

from typing import Any

from tracelake.agents import (
    ResponsesResponse,
    ResponsesStreamEvent,
    Usage,
    function_call_arguments_delta_event,
    function_call_item,
    output_item_done_event,
    text_delta_event,
    text_output_item,
)
from tracelake.agents.serving._sse import ResponseStreamWriter, encode_sse


def run(*events: ResponsesStreamEvent) -> tuple[list[dict[str, Any]], ResponsesResponse]:
    writer = ResponseStreamWriter(ResponsesResponse(id="resp_1", model="m", metadata={"trace_id": "t"}))
    out = writer.start()
    for event in events:
        out += writer.feed(event)
    out += writer.finish()
    assert writer.final is not None
    return out, writer.final


def test_text_deltas_get_the_item_and_part_events_around_them() -> None:
    events, final = run(
        text_delta_event("Hel", "msg_1"),
        text_delta_event("lo", "msg_1"),
        output_item_done_event(text_output_item("Hello", id="msg_1")),
    )
    assert [e["type"] for e in events] == [
        "response.created",
        "response.in_progress",
        "response.output_item.added",
        "response.content_part.added",
        "response.output_text.delta",
        "response.output_text.delta",
        "response.output_text.done",
        "response.content_part.done",
        "response.output_item.done",
        "response.completed",
    ]
    assert [e["sequence_number"] for e in events] == list(range(10))
    assert all(e["output_index"] == 0 for e in events[2:9])
    assert events[0]["response"]["status"] == "in_progress" and events[0]["response"]["id"] == "resp_1"
    assert events[-1]["response"]["output"][0]["content"][0]["text"] == "Hello"
    assert final.output_text == "Hello" and final.metadata == {"trace_id": "t"}


def test_finished_items_alone_are_announced_streamed_and_closed_in_order() -> None:
    call = function_call_item("search", {"q": 1}, call_id="call_1")
    events, final = run(output_item_done_event(text_output_item("One")), output_item_done_event(call))
    kinds = [e["type"] for e in events]
    assert kinds.count("response.output_item.added") == 2 and kinds.count("response.output_item.done") == 2
    assert "response.function_call_arguments.done" in kinds
    added = [e for e in events if e["type"] == "response.output_item.added"]
    assert [e["output_index"] for e in added] == [0, 1]
    assert added[1]["item"]["arguments"] == "" and added[1]["item"]["call_id"] == "call_1"
    assert [item.type for item in final.output] == ["message", "function_call"]


def test_items_left_open_are_closed_and_usage_comes_from_the_agents_completed_event() -> None:
    events, final = run(
        text_delta_event("unfinished", "msg_open"),
        ResponsesStreamEvent(
            type="response.output_item.added", item=function_call_item("f", "", call_id="c", id="fc_1")
        ),
        function_call_arguments_delta_event('{"a":', "fc_1"),
        function_call_arguments_delta_event(" 1}", "fc_1"),
        ResponsesStreamEvent(
            type="response.completed", response=ResponsesResponse(usage=Usage(input_tokens=2), custom_outputs={"k": 1})
        ),
    )
    assert final.output_text == "unfinished"
    assert final.output[1].arguments == '{"a": 1}'  # type: ignore[union-attr]
    assert final.usage is not None and final.usage.total_tokens == 2 and final.custom_outputs == {"k": 1}
    assert events[-1]["type"] == "response.completed"


def test_a_completed_event_alone_streams_its_output() -> None:
    response = ResponsesResponse(output=[text_output_item("whole")])
    events, final = run(ResponsesStreamEvent(type="response.completed", response=response))
    assert final.output_text == "whole"
    assert [e["delta"] for e in events if e["type"] == "response.output_text.delta"] == ["whole"]


def test_unknown_events_pass_through_and_failure_keeps_finished_items() -> None:
    writer = ResponseStreamWriter(ResponsesResponse(id="resp_2"))
    writer.start()
    writer.feed(output_item_done_event(text_output_item("kept", id="msg_k")))
    custom = writer.feed(
        ResponsesStreamEvent.model_validate({"type": "response.custom.progress", "item_id": "msg_k", "step": 2})
    )
    assert custom[0]["step"] == 2 and custom[0]["output_index"] == 0
    (failed,) = writer.fail("The agent raised RuntimeError.")
    assert failed["type"] == "response.failed"
    assert failed["response"]["status"] == "failed" and failed["response"]["output"][0]["id"] == "msg_k"
    assert encode_sse(failed).startswith(b"event: response.failed\ndata: {")
