"""Between a stream of events and a whole response: reduce events to the response, or replay a response as events.

`reduce_stream` gives a streamed call the same record as a plain one (the AGENT span's outputs, and
`predict` of an agent that only streams). `response_events` is what an agent that only implements
`predict` streams.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from tracelake.agents._helpers import output_item_done_event, text_delta_event, text_output_item
from tracelake.agents._types import (
    FunctionCall,
    OutputItem,
    OutputMessage,
    ResponsesResponse,
    ResponsesStreamEvent,
    new_id,
)

__all__ = ["reduce_stream", "response_events"]

_TEXT_DELTA = "response.output_text.delta"
_ARGS_DELTA = "response.function_call_arguments.delta"
_ITEM_ADDED = "response.output_item.added"
_ITEM_DONE = "response.output_item.done"
_COMPLETED = "response.completed"


def reduce_stream(events: Iterable[ResponsesStreamEvent | Mapping[str, Any]]) -> ResponsesResponse:
    """Return the response a stream of events amounts to.

    Items come in the order they first appeared. A finished item (`response.output_item.done`)
    wins over its deltas; text deltas of a message never finished become a message; a
    `response.completed` event contributes its usage and `custom_outputs` (and its output, if no
    item was streamed).
    """
    order: list[str] = []
    done: dict[str, OutputItem] = {}
    texts: dict[str, list[str]] = {}
    arguments: dict[str, list[str]] = {}
    added: dict[str, OutputItem] = {}
    completed: ResponsesResponse | None = None

    def see(item_id: str) -> None:
        if item_id not in done and item_id not in texts and item_id not in arguments and item_id not in added:
            order.append(item_id)

    for raw in events:
        event = ResponsesStreamEvent.coerce(raw)
        if event.type == _TEXT_DELTA:
            item_id = event.item_id or "_text"
            see(item_id)
            texts.setdefault(item_id, []).append(event.delta or "")
        elif event.type == _ARGS_DELTA and event.item_id:
            see(event.item_id)
            arguments.setdefault(event.item_id, []).append(event.delta or "")
        elif event.type in (_ITEM_ADDED, _ITEM_DONE) and event.item is not None:
            item_id = event.item.id or new_id("item")
            see(item_id)
            (done if event.type == _ITEM_DONE else added)[item_id] = event.item
        elif event.type == _COMPLETED and event.response is not None:
            completed = event.response

    items: list[OutputItem] = []
    for item_id in order:
        if item_id in done:
            items.append(done[item_id])
        elif item_id in texts:
            items.append(text_output_item("".join(texts[item_id]), id=None if item_id == "_text" else item_id))
        elif isinstance(call := added.get(item_id), FunctionCall):
            items.append(call.model_copy(update={"arguments": "".join(arguments.get(item_id, [])) or call.arguments}))
    if completed is None:
        return ResponsesResponse(output=items)
    return completed if not items else completed.model_copy(update={"output": items})


def response_events(response: ResponsesResponse) -> Iterator[ResponsesStreamEvent]:
    """Replay a whole response as stream events: each message's text as one delta, each item done, then completed."""
    for item in response.output:
        if isinstance(item, OutputMessage) and item.text:
            yield text_delta_event(item.text, item.id)
        yield output_item_done_event(item)
    yield ResponsesStreamEvent(type=_COMPLETED, response=response)
