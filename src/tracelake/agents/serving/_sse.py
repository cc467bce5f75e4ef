"""The Responses API event stream on the wire, completed from what an agent yields.

An agent yields what it knows: text deltas of a message, finished items, maybe `output_item.added`.
OpenAI clients expect the whole lifecycle — `response.created`, `response.in_progress`, for each
item `output_item.added`, `content_part.added`, the deltas, `output_text.done`,
`content_part.done`, `output_item.done`, and finally `response.completed` with the whole response —
with `output_index`, `content_index` and a `sequence_number` on every event. `ResponseStreamWriter`
adds whatever the agent left out, in order, so `client.responses.create(stream=True)` and
`client.responses.stream(...)` both work against any agent.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import orjson

from tracelake.agents._helpers import text_output_item
from tracelake.agents._types import FunctionCall, OutputItem, ResponsesResponse, ResponsesStreamEvent, new_id

__all__ = ["ResponseStreamWriter", "encode_sse"]

JSON = dict[str, Any]


def encode_sse(event: JSON) -> bytes:
    """Return one server-sent event: `event: <type>` and the JSON `data`."""
    return b"event: " + str(event["type"]).encode() + b"\ndata: " + orjson.dumps(event) + b"\n\n"


@dataclass
class _Slot:
    """One output item of the stream, from its announcement to its end."""

    index: int
    item_id: str
    added: JSON
    text: list[str] = field(default_factory=list)
    text_open: bool = False
    arguments: list[str] = field(default_factory=list)
    done: JSON | None = None


class ResponseStreamWriter:
    """Turns an agent's events into the complete Responses event sequence (one instance per response).

    Each method returns the events to send, as JSON-ready dicts, in order.

    Args:
        response: the response being streamed: its id, model, creation time and metadata are those
            of every lifecycle event; its output is ignored.
    """

    def __init__(self, response: ResponsesResponse) -> None:
        self._base = response.model_copy(update={"output": [], "status": "in_progress", "usage": None})
        self._slots: dict[str, _Slot] = {}
        self._order: list[_Slot] = []
        self._sequence = 0
        self._agent_response: ResponsesResponse | None = None
        self.final: ResponsesResponse | None = None
        """The completed (or failed) response, once `finish` (or `fail`) ran."""

    # Lifecycle --------------------------------------------------------------------------------
    def start(self) -> list[JSON]:
        snapshot = _dump(self._base)
        return [
            self._event("response.created", response=snapshot),
            self._event("response.in_progress", response=snapshot),
        ]

    def feed(self, event: ResponsesStreamEvent) -> list[JSON]:
        kind = event.type
        if kind == "response.output_text.delta":
            return self._text_delta(event.item_id or self._current_text_id(), event.delta or "")
        if kind == "response.function_call_arguments.delta" and event.item_id:
            return self._arguments_delta(event.item_id, event.delta or "")
        if kind == "response.output_item.added" and event.item is not None:
            item = _item_json(event.item)
            return [] if item["id"] in self._slots else self._open(item["id"], item)
        if kind == "response.output_item.done" and event.item is not None:
            return self._close(_item_json(event.item))
        if kind == "response.completed":
            self._agent_response = event.response
            return []
        if kind in ("response.created", "response.in_progress", "response.queued"):
            return []  # the writer announces the response itself
        passed = event.model_dump(mode="json", exclude_none=True)
        slot = self._slots.get(event.item_id or "")
        if slot is not None and "output_index" not in passed:
            passed["output_index"] = slot.index
        return [self._event(kind, **{k: v for k, v in passed.items() if k != "type"})]

    def finish(self) -> list[JSON]:
        """Close every item still open, then `response.completed` with the whole response."""
        events: list[JSON] = []
        agent = self._agent_response
        if agent is not None and not self._order:
            for item in agent.output:  # an agent that only sent response.completed
                events += self._close(_item_json(item))
        for slot in list(self._order):
            if slot.done is None:
                events += self._close(self._unfinished_item(slot))
        update: dict[str, Any] = {"status": "completed", "output": [slot.done for slot in self._order]}
        if agent is not None:
            update["usage"] = agent.usage
            if agent.custom_outputs is not None:
                update["custom_outputs"] = agent.custom_outputs
        final = ResponsesResponse.model_validate({**_dump(self._base), **_jsonable(update)})
        self.final = final
        events.append(self._event("response.completed", response=_dump(final)))
        return events

    def fail(self, message: str) -> list[JSON]:
        """`response.failed`: the agent raised after streaming began; items finished so far are kept."""
        update = {
            "status": "failed",
            "output": [slot.done for slot in self._order if slot.done is not None],
            "error": {"code": "server_error", "message": message},
        }
        failed = ResponsesResponse.model_validate({**_dump(self._base), **update})
        self.final = failed
        return [self._event("response.failed", response=_dump(failed))]

    # Items ------------------------------------------------------------------------------------
    def _current_text_id(self) -> str:
        # A delta without item_id continues the last open message, or starts one.
        for slot in reversed(self._order):
            if slot.done is None and slot.added.get("type") == "message":
                return slot.item_id
        return new_id("msg")

    def _open(self, item_id: str, item: JSON) -> list[JSON]:
        slot = _Slot(len(self._order), item_id, item)
        self._slots[item_id] = slot
        self._order.append(slot)
        return [self._event("response.output_item.added", output_index=slot.index, item=item)]

    def _open_text(self, slot: _Slot) -> JSON:
        slot.text_open = True
        part = {"type": "output_text", "text": "", "annotations": []}
        return self._event("response.content_part.added", **_where(slot, 0), part=part)

    def _text_delta(self, item_id: str, delta: str) -> list[JSON]:
        events: list[JSON] = []
        slot = self._slots.get(item_id)
        if slot is None:
            pending = {"id": item_id, "type": "message", "role": "assistant", "status": "in_progress", "content": []}
            events += self._open(item_id, pending)
            slot = self._slots[item_id]
        if slot.done is not None:
            return events  # late text for a finished item: the finished item stands
        if not slot.text_open:
            events.append(self._open_text(slot))
        slot.text.append(delta)
        events.append(self._event("response.output_text.delta", **_where(slot, 0), delta=delta, logprobs=[]))
        return events

    def _arguments_delta(self, item_id: str, delta: str) -> list[JSON]:
        events: list[JSON] = []
        slot = self._slots.get(item_id)
        if slot is None:
            pending = {"id": item_id, "type": "function_call", "call_id": "", "name": "", "arguments": ""}
            events += self._open(item_id, {**pending, "status": "in_progress"})
            slot = self._slots[item_id]
        if slot.done is None:
            slot.arguments.append(delta)
            events.append(
                self._event(
                    "response.function_call_arguments.delta", item_id=item_id, output_index=slot.index, delta=delta
                )
            )
        return events

    def _close(self, item: JSON) -> list[JSON]:
        events: list[JSON] = []
        item_id = item["id"]
        slot = self._slots.get(item_id)
        if slot is None:
            events += self._open(item_id, _pending(item))
            slot = self._slots[item_id]
        if slot.done is not None:
            return events
        kind = item.get("type")
        if kind == "message":
            events += self._close_message_parts(slot, item)
        elif kind == "function_call":
            arguments = str(item.get("arguments", ""))
            if not slot.arguments and arguments:
                events.append(
                    self._event(
                        "response.function_call_arguments.delta",
                        item_id=item_id,
                        output_index=slot.index,
                        delta=arguments,
                    )
                )
            events.append(
                self._event(
                    "response.function_call_arguments.done",
                    item_id=item_id,
                    output_index=slot.index,
                    arguments=arguments,
                )
            )
        slot.done = item
        events.append(self._event("response.output_item.done", output_index=slot.index, item=item))
        return events

    def _close_message_parts(self, slot: _Slot, item: JSON) -> list[JSON]:
        events: list[JSON] = []
        for index, part in enumerate(item.get("content") or []):
            is_text = part.get("type") == "output_text"
            if not (index == 0 and slot.text_open):
                empty = {"type": "output_text", "text": "", "annotations": []} if is_text else {**part}
                events.append(self._event("response.content_part.added", **_where(slot, index), part=empty))
                if is_text and part.get("text"):
                    events.append(
                        self._event(
                            "response.output_text.delta", **_where(slot, index), delta=part["text"], logprobs=[]
                        )
                    )
            if is_text:
                text = part.get("text", "")
                events.append(self._event("response.output_text.done", **_where(slot, index), text=text, logprobs=[]))
            events.append(self._event("response.content_part.done", **_where(slot, index), part=part))
        return events

    def _unfinished_item(self, slot: _Slot) -> JSON:
        """The item an agent left open: its streamed text or arguments, marked completed."""
        if slot.added.get("type") == "message":
            return _item_json(text_output_item("".join(slot.text), id=slot.item_id))
        if slot.added.get("type") == "function_call":
            return {**slot.added, "arguments": "".join(slot.arguments), "status": "completed"}
        return {**slot.added}

    def _event(self, kind: str, **fields: Any) -> JSON:
        event = {"type": kind, "sequence_number": self._sequence, **fields}
        self._sequence += 1
        return event


def _where(slot: _Slot, content_index: int) -> JSON:
    return {"item_id": slot.item_id, "output_index": slot.index, "content_index": content_index}


def _pending(item: JSON) -> JSON:
    """The in-progress announcement of a finished item (`output_item.added` before its parts)."""
    kind = item.get("type")
    if kind == "message":
        return {**item, "status": "in_progress", "content": []}
    if kind == "function_call":
        return {**item, "status": "in_progress", "arguments": ""}
    return item


def _item_json(item: OutputItem) -> JSON:
    data: JSON = item.model_dump(mode="json", exclude_none=True)
    if not data.get("id"):
        data["id"] = new_id("fc" if isinstance(item, FunctionCall) else "item")
    return data


def _dump(response: ResponsesResponse) -> JSON:
    data: JSON = response.model_dump(mode="json", exclude_none=True)
    return data


def _jsonable(update: dict[str, Any]) -> dict[str, Any]:
    usage = update.get("usage")
    if usage is not None and not isinstance(usage, dict):
        update["usage"] = usage.model_dump(mode="json", exclude_none=True)
    return {k: v for k, v in update.items() if v is not None}
