"""Builders of output items and stream events, so agents need not spell out the Responses JSON."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from tracelake.agents._types import (
    FunctionCall,
    FunctionCallOutput,
    OutputItem,
    OutputMessage,
    OutputText,
    ResponsesStreamEvent,
    new_id,
)

__all__ = [
    "function_call_arguments_delta_event",
    "function_call_item",
    "function_call_output_item",
    "output_item_done_event",
    "text_delta_event",
    "text_output_item",
]


def text_output_item(text: str, id: str | None = None, annotations: list[Any] | None = None) -> OutputMessage:
    """Return an assistant message with one `output_text` part.

    Args:
        text: the message text.
        id: the item id; a new `msg_…` id by default. Use the `item_id` of the text deltas that
            streamed this text, so the endpoint knows they are the same item.
        annotations: citations and the like, as the Responses API shapes them.
    """
    part = OutputText(text=text, annotations=list(annotations or []))
    return OutputMessage(content=[part]) if id is None else OutputMessage(id=id, content=[part])


def function_call_item(
    name: str, arguments: str | Mapping[str, Any], call_id: str | None = None, id: str | None = None
) -> FunctionCall:
    """Return a function call the caller should run (a tool call), answered by a `function_call_output`.

    Args:
        name: the tool's name.
        arguments: JSON text, or a mapping (turned into JSON).
        call_id: the id the caller answers with; a new `call_…` id by default.
        id: the item id; a new `fc_…` id by default.
    """
    text = arguments if isinstance(arguments, str) else json.dumps(dict(arguments))
    return FunctionCall(
        call_id=call_id or new_id("call"), name=name, arguments=text, id=id or new_id("fc"), status="completed"
    )


def function_call_output_item(call_id: str, output: str) -> FunctionCallOutput:
    """Return the result of a tool call the agent ran itself, for the output's record of what happened."""
    return FunctionCallOutput(call_id=call_id, output=output, id=new_id("fco"), status="completed")


def text_delta_event(delta: str, item_id: str) -> ResponsesStreamEvent:
    """Return a `response.output_text.delta` event: `delta` is more text of the message `item_id`."""
    return ResponsesStreamEvent(type="response.output_text.delta", item_id=item_id, delta=delta)


def function_call_arguments_delta_event(delta: str, item_id: str) -> ResponsesStreamEvent:
    """Return a `response.function_call_arguments.delta` event for the function call `item_id`."""
    return ResponsesStreamEvent(type="response.function_call_arguments.delta", item_id=item_id, delta=delta)


def output_item_done_event(item: OutputItem | Mapping[str, Any]) -> ResponsesStreamEvent:
    """Return a `response.output_item.done` event: `item` is finished (its id matches the deltas' `item_id`)."""
    return ResponsesStreamEvent.model_validate({"type": "response.output_item.done", "item": item})
