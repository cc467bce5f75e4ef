"""Read chat-completions and Responses requests into the stub's `Conversation`."""

from __future__ import annotations

import json
from typing import Any

from tracelake.testing.llm_stub._rules import Conversation, JSONObject, StubError, count_tokens


def content_text(content: Any) -> str:
    """Return the text of a message's content: a string, or a list of text parts."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        parts = [part.get("text", "") for part in content if isinstance(part, dict)]
        return "\n".join(p for p in parts if isinstance(p, str))
    return ""


def _wants_json(fmt: Any) -> bool:
    return isinstance(fmt, dict) and str(fmt.get("type", "")).startswith("json")


def chat_conversation(body: JSONObject) -> Conversation:
    """Read a `POST /v1/chat/completions` body."""
    messages = body.get("messages")
    messages = [m for m in messages if isinstance(m, dict)] if isinstance(messages, list) else []
    if not messages:
        raise StubError(400, "'messages' must be a non-empty list of message objects")
    texts = [content_text(m.get("content")) for m in messages]
    # An assistant's tool calls are part of the conversation's text too: rules may match them.
    for message in messages:
        for call in message.get("tool_calls") or ():
            function = call.get("function") if isinstance(call, dict) else None
            if isinstance(function, dict):
                texts.append(f"{function.get('name', '')} {function.get('arguments', '')}")
    last = messages[-1]
    tool_result = last.get("role") == "tool"
    users = [content_text(m.get("content")) for m in messages if m.get("role") == "user"]
    last_text = texts[len(messages) - 1] if tool_result else (users[-1] if users else texts[-1])
    return Conversation(
        prompt="\n".join(texts),
        last_text=last_text,
        ends_with_tool_result=tool_result,
        input_tokens=sum(count_tokens(t) for t in texts),
        wants_json=_wants_json(body.get("response_format")),
    )


def _item_text(item: JSONObject) -> str:
    kind = item.get("type")
    if kind == "function_call_output":
        output = item.get("output")
        return output if isinstance(output, str) else json.dumps(output)
    if kind == "function_call":
        return f"{item.get('name', '')} {item.get('arguments', '')}"
    return content_text(item.get("content"))


def responses_conversation(body: JSONObject) -> Conversation:
    """Read a `POST /v1/responses` body."""
    items = body.get("input")
    if isinstance(items, str):
        items = [{"role": "user", "content": items}]
    items = [i for i in items if isinstance(i, dict)] if isinstance(items, list) else []
    if not items:
        raise StubError(400, "'input' must be a string or a non-empty list of items")
    texts = [str(body["instructions"])] if body.get("instructions") else []
    texts += [_item_text(i) for i in items]
    tool_result = items[-1].get("type") == "function_call_output"
    users = [content_text(i.get("content")) for i in items if i.get("role") == "user"]
    last_text = texts[-1] if tool_result else (users[-1] if users else texts[-1])
    text_options = body.get("text")
    return Conversation(
        prompt="\n".join(texts),
        last_text=last_text,
        ends_with_tool_result=tool_result,
        input_tokens=sum(count_tokens(t) for t in texts),
        wants_json=_wants_json(text_options.get("format") if isinstance(text_options, dict) else None),
    )
