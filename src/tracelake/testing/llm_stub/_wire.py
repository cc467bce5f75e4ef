"""Shaping the stub's answers into the OpenAI wire formats (JSON bodies and stream events)."""

from __future__ import annotations

import base64
import hashlib
import json
import re
import struct
from collections.abc import Iterator
from typing import Any

from tracelake.testing.llm_stub._rules import Answer, JSONObject, StubError, count_tokens

#: What `GET /v1/models` lists.
MODELS = ("gpt-4o-mini", "gpt-4o", "gpt-4.1-mini", "text-embedding-3-small", "stub-model")


def split_stream(text: str) -> list[str]:
    """Split before each word, so the chunks concatenate back to exactly `text`."""
    return [piece for piece in re.split(r"(?<=\s)(?=\S)", text) if piece] or [""]


# Chat completions -------------------------------------------------------------------------------
def chat_usage(answer: Answer) -> JSONObject:
    total = answer.input_tokens + answer.output_tokens
    return {
        "prompt_tokens": answer.input_tokens,
        "completion_tokens": answer.output_tokens,
        "total_tokens": total,
        "prompt_tokens_details": {"cached_tokens": answer.cached_tokens},
        "completion_tokens_details": {"reasoning_tokens": answer.reasoning_tokens},
    }


def _chat_tool_calls(answer: Answer) -> list[JSONObject]:
    return [
        {"id": call_id, "type": "function", "function": {"name": call.name, "arguments": call.arguments_json}}
        for call_id, call in answer.tool_calls
    ]


def _finish_reason(answer: Answer) -> str:
    return "tool_calls" if answer.tool_calls else "stop"


def chat_completion(answer: Answer, ident: str, created: int) -> JSONObject:
    message: JSONObject = {"role": "assistant", "content": answer.text, "refusal": None}
    if answer.tool_calls:
        message["content"] = answer.text or None
        message["tool_calls"] = _chat_tool_calls(answer)
    choice = {"index": 0, "message": message, "finish_reason": _finish_reason(answer), "logprobs": None}
    return {
        "id": ident,
        "object": "chat.completion",
        "created": created,
        "model": answer.model,
        "choices": [choice],
        "usage": chat_usage(answer),
    }


def chat_chunks(answer: Answer, ident: str, created: int) -> Iterator[JSONObject]:
    head = {"id": ident, "object": "chat.completion.chunk", "created": created, "model": answer.model}
    deltas: list[JSONObject] = []
    if answer.text or not answer.tool_calls:
        deltas.append({"role": "assistant", "content": ""})
        deltas += [{"content": piece} for piece in split_stream(answer.text)]
    else:
        deltas.append({"role": "assistant", "content": None})
    for index, (call_id, call) in enumerate(answer.tool_calls):
        function = {"name": call.name, "arguments": ""}
        deltas.append({"tool_calls": [{"index": index, "id": call_id, "type": "function", "function": function}]})
        for piece in split_stream(call.arguments_json):
            deltas.append({"tool_calls": [{"index": index, "function": {"arguments": piece}}]})
    for delta in deltas:
        yield head | {"choices": [{"index": 0, "delta": delta, "finish_reason": None, "logprobs": None}]}
    yield head | {"choices": [{"index": 0, "delta": {}, "finish_reason": _finish_reason(answer), "logprobs": None}]}
    if answer.include_usage:
        # As OpenAI does: one last chunk with no choices and the usage of the whole call.
        yield head | {"choices": [], "usage": chat_usage(answer)}


# Responses --------------------------------------------------------------------------------------
def _message_item(answer: Answer, ident: str, done: bool) -> JSONObject:
    content = [{"type": "output_text", "text": answer.text, "annotations": []}] if done else []
    status = "completed" if done else "in_progress"
    return {"id": f"msg_{ident}", "type": "message", "role": "assistant", "status": status, "content": content}


def _function_item(ident: str, index: int, call_id: str, name: str, arguments: str, done: bool) -> JSONObject:
    return {
        "id": f"fc_{ident}_{index}",
        "type": "function_call",
        "call_id": call_id,
        "name": name,
        "arguments": arguments,
        "status": "completed" if done else "in_progress",
    }


def _output_items(answer: Answer, ident: str) -> list[JSONObject]:
    items = [_message_item(answer, ident, done=True)] if answer.text or not answer.tool_calls else []
    items += [
        _function_item(ident, index, call_id, call.name, call.arguments_json, done=True)
        for index, (call_id, call) in enumerate(answer.tool_calls)
    ]
    return items


def response_object(answer: Answer, ident: str, created: int, done: bool) -> JSONObject:
    usage = {
        "input_tokens": answer.input_tokens,
        "input_tokens_details": {"cached_tokens": answer.cached_tokens},
        "output_tokens": answer.output_tokens,
        "output_tokens_details": {"reasoning_tokens": answer.reasoning_tokens},
        "total_tokens": answer.input_tokens + answer.output_tokens,
    }
    return {
        "id": ident,
        "object": "response",
        "created_at": created,
        "status": "completed" if done else "in_progress",
        "model": answer.model,
        "output": _output_items(answer, ident) if done else [],
        "parallel_tool_calls": True,
        "tool_choice": "auto",
        "tools": [],
        "usage": usage if done else None,
    }


def response_events(answer: Answer, ident: str, created: int) -> Iterator[JSONObject]:
    pending = response_object(answer, ident, created, done=False)
    final = response_object(answer, ident, created, done=True)
    yield {"type": "response.created", "response": pending}
    yield {"type": "response.in_progress", "response": pending}
    output_index = 0
    if answer.text or not answer.tool_calls:
        yield from _message_events(answer, ident, final["output"][0])
        output_index = 1
    for index, (call_id, call) in enumerate(answer.tool_calls):
        where = {"item_id": f"fc_{ident}_{index}", "output_index": output_index}
        added = _function_item(ident, index, call_id, call.name, "", done=False)
        yield {"type": "response.output_item.added", "output_index": output_index, "item": added}
        for piece in split_stream(call.arguments_json):
            yield {"type": "response.function_call_arguments.delta", **where, "delta": piece}
        yield {
            "type": "response.function_call_arguments.done",
            **where,
            "name": call.name,
            "arguments": call.arguments_json,
        }
        yield {"type": "response.output_item.done", "output_index": output_index, "item": final["output"][output_index]}
        output_index += 1
    yield {"type": "response.completed", "response": final}


def _message_events(answer: Answer, ident: str, final_item: JSONObject) -> Iterator[JSONObject]:
    item_id = f"msg_{ident}"
    where = {"item_id": item_id, "output_index": 0, "content_index": 0}
    yield {"type": "response.output_item.added", "output_index": 0, "item": _message_item(answer, ident, done=False)}
    yield {
        "type": "response.content_part.added",
        **where,
        "part": {"type": "output_text", "text": "", "annotations": []},
    }
    for piece in split_stream(answer.text):
        yield {"type": "response.output_text.delta", **where, "delta": piece, "logprobs": []}
    yield {"type": "response.output_text.done", **where, "text": answer.text, "logprobs": []}
    yield {"type": "response.content_part.done", **where, "part": final_item["content"][0]}
    yield {"type": "response.output_item.done", "output_index": 0, "item": final_item}


# Embeddings -------------------------------------------------------------------------------------
def _embedding(text: str, dimensions: int) -> list[float]:
    """Return a unit vector derived from the SHA-256 of `text`: equal texts, equal vectors."""
    raw = b""
    counter = 0
    while len(raw) < dimensions * 4:
        raw += hashlib.sha256(f"{counter}:{text}".encode()).digest()
        counter += 1
    values = [int.from_bytes(raw[i * 4 : i * 4 + 4], "little") / 2**31 - 1.0 for i in range(dimensions)]
    norm = sum(v * v for v in values) ** 0.5 or 1.0
    return [round(v / norm, 6) for v in values]


def embeddings(body: JSONObject) -> JSONObject:
    inputs = body.get("input")
    texts = [inputs] if isinstance(inputs, str) else inputs
    if not isinstance(texts, list) or not texts:
        raise StubError(400, "'input' must be a string or a non-empty list")
    texts = [t if isinstance(t, str) else json.dumps(t) for t in texts]  # token arrays hash like text
    dimensions = int(body.get("dimensions") or 8)
    data: list[JSONObject] = []
    for index, text in enumerate(texts):
        vector: Any = _embedding(text, dimensions)
        if body.get("encoding_format") == "base64":
            # The openai client asks for base64 by default: little-endian float32, as OpenAI sends.
            vector = base64.b64encode(struct.pack(f"<{dimensions}f", *vector)).decode()
        data.append({"object": "embedding", "index": index, "embedding": vector})
    tokens = sum(count_tokens(t) for t in texts)
    usage = {"prompt_tokens": tokens, "total_tokens": tokens}
    return {"object": "list", "data": data, "model": str(body.get("model") or "stub-embedding"), "usage": usage}
