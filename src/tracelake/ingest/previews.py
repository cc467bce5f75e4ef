"""Request and response previews: the short text the trace list shows for a trace.

When the root span's inputs or outputs look like a chat exchange (OpenAI chat or completions, the
Responses API, a ResponsesAgent request, OpenTelemetry GenAI messages), the preview is the last
user message or the assistant's answer rather than raw JSON. Everything else is shown as itself
(strings) or as compact JSON.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from tracelake.ingest.conventions._base import dumps_compact
from tracelake.model import PREVIEW_MAX_CHARS

__all__ = ["compute_previews", "request_preview", "response_preview", "truncate_preview"]

ELLIPSIS: Final = "…"
# Text part types of OpenAI chat, the Responses API and OTel GenAI messages.
_TEXT_PART_TYPES: Final = frozenset({"text", "input_text", "output_text"})


def compute_previews(inputs: Any, outputs: Any) -> tuple[str | None, str | None]:
    """Return the (request, response) previews of a trace from its root span's inputs and outputs.

    Args:
        inputs: The root span's inputs (any JSON value, or None when absent).
        outputs: The root span's outputs.

    Returns:
        Both previews, each None when the value is None, cut to `PREVIEW_MAX_CHARS`.
    """
    return request_preview(inputs), response_preview(outputs)


def request_preview(value: Any) -> str | None:
    """Return the preview of a trace's request: the last user message when there is one."""
    if value is None:
        return None
    text = _last_user_text(value) if isinstance(value, Mapping | list) else None
    if text is None and isinstance(value, Mapping) and len(value) == 1:
        # `@trace def answer(question: str)` records {"question": "..."}: the question is the request.
        (only,) = value.values()
        if isinstance(only, str):
            text = only
    return truncate_preview(_fallback(value) if text is None else text)


def response_preview(value: Any) -> str | None:
    """Return the preview of a trace's response: the assistant's answer when there is one."""
    if value is None:
        return None
    text = _assistant_text(value) if isinstance(value, Mapping | list) else None
    return truncate_preview(_fallback(value) if text is None else text)


def truncate_preview(text: str) -> str:
    """Strip NUL characters (PostgreSQL rejects them) and cut to `PREVIEW_MAX_CHARS` with "…"."""
    if "\x00" in text:
        text = text.replace("\x00", "")
    if len(text) > PREVIEW_MAX_CHARS:
        text = text[: PREVIEW_MAX_CHARS - len(ELLIPSIS)] + ELLIPSIS
    return text


def _fallback(value: Any) -> str:
    return value if isinstance(value, str) else dumps_compact(value)


def _last_user_text(value: Any) -> str | None:
    if isinstance(value, list):
        return _last_text(value, "user")
    if isinstance(request := value.get("request"), Mapping):
        # A ResponsesAgent's `predict(request)` records its inputs as {"request": {...}}.
        value = request
    for key in ("messages", "input"):
        items = value.get(key)
        if isinstance(items, list):
            return _last_text(items, "user")
        if key == "input" and isinstance(items, str):
            return items
    return None


def _assistant_text(value: Any) -> str | None:
    if isinstance(value, list):
        return _last_text(value, "assistant")
    if isinstance(choices := value.get("choices"), list) and choices:
        # Chat completions carry `message`, legacy completions `text`; the first choice is the answer.
        first = choices[0]
        if isinstance(first, Mapping):
            message = first.get("message")
            if isinstance(message, Mapping):
                return _content_text(message.get("content"))
            if isinstance(first.get("text"), str):
                return str(first["text"])
        return None
    for key in ("output", "messages"):
        items = value.get(key)
        if isinstance(items, list):
            return _last_text(items, "assistant")
    return None


def _last_text(items: list[Any], role: str) -> str | None:
    """Text of the last item with `role` (chat messages, Responses items, OTel GenAI messages)."""
    for item in reversed(items):
        if not isinstance(item, Mapping) or item.get("role") != role:
            continue
        if item.get("type", "message") != "message":
            continue
        text = _content_text(item.get("content"))
        if text is None:
            text = _content_text(item.get("parts"))
        if text is not None:
            return text
    return None


def _content_text(content: Any) -> str | None:
    """Text of a message's content: a string, or the text parts of a list of parts."""
    if isinstance(content, str):
        return content
    if not isinstance(content, list):
        return None
    texts: list[str] = []
    for part in content:
        if isinstance(part, str):
            texts.append(part)
        elif isinstance(part, Mapping) and part.get("type", "text") in _TEXT_PART_TYPES:
            # OpenAI parts hold `text`; OTel GenAI text parts hold `content`.
            text = part.get("text", part.get("content"))
            if isinstance(text, str):
                texts.append(text)
    return "\n".join(texts) if texts else None
