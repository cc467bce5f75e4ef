from __future__ import annotations

from typing import Any

import pytest

from tracelake.ingest import compute_previews
from tracelake.ingest.previews import request_preview, response_preview, truncate_preview
from tracelake.model import PREVIEW_MAX_CHARS

CHAT_REQUEST = {
    "model": "gpt-4o-mini",
    "messages": [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "first question"},
        {"role": "assistant", "content": "first answer"},
        {"role": "user", "content": [{"type": "text", "text": "second"}, {"type": "image_url", "image_url": {}}]},
    ],
}
CHAT_RESPONSE = {"choices": [{"index": 0, "message": {"role": "assistant", "content": "The answer."}}]}
RESPONSES_REQUEST = {
    "model": "gpt-4.1",
    "input": [
        {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "Plan my trip"}]},
        {"type": "function_call_output", "call_id": "c1", "output": "{}"},
    ],
}
RESPONSES_OUTPUT = {
    "id": "resp_1",
    "output": [
        {"type": "reasoning", "summary": []},
        {"type": "function_call", "name": "search", "arguments": "{}"},
        {
            "type": "message",
            "role": "assistant",
            "content": [{"type": "output_text", "text": "Day 1: Paris."}, {"type": "output_text", "text": "Day 2."}],
        },
    ],
}


@pytest.mark.parametrize(
    ("inputs", "expected"),
    [
        (CHAT_REQUEST, "second"),
        (RESPONSES_REQUEST, "Plan my trip"),
        ({"request": RESPONSES_REQUEST}, "Plan my trip"),  # ResponsesAgent.predict(request)
        ({"input": "just a string"}, "just a string"),
        ([{"role": "user", "content": "bare list"}, {"role": "assistant", "content": "x"}], "bare list"),
        ({"messages": [{"role": "user", "parts": [{"type": "text", "content": "otel parts"}]}]}, "otel parts"),
        ("plain text", "plain text"),
        ({"question": "q?", "k": 3}, '{"question":"q?","k":3}'),
        (
            {"messages": [{"role": "system", "content": "no user"}]},
            '{"messages":[{"role":"system","content":"no user"}]}',
        ),
        (42, "42"),
    ],
)
def test_request_preview(inputs: Any, expected: str) -> None:
    assert request_preview(inputs) == expected


@pytest.mark.parametrize(
    ("outputs", "expected"),
    [
        (CHAT_RESPONSE, "The answer."),
        ({"choices": [{"text": "completion text"}]}, "completion text"),
        (RESPONSES_OUTPUT, "Day 1: Paris.\nDay 2."),
        ({"messages": [{"role": "assistant", "parts": [{"type": "text", "content": "otel"}]}]}, "otel"),
        ("plain", "plain"),
        ({"answer": 1}, '{"answer":1}'),
        ({"choices": []}, '{"choices":[]}'),
    ],
)
def test_response_preview(outputs: Any, expected: str) -> None:
    assert response_preview(outputs) == expected


def test_none_has_no_preview() -> None:
    assert compute_previews(None, None) == (None, None)


def test_huge_values_are_cut_with_a_marker() -> None:
    request, response = compute_previews("x" * 100_000, {"data": ["y" * 100] * 1000})
    for preview in (request, response):
        assert preview is not None
        assert len(preview) == PREVIEW_MAX_CHARS
        assert preview.endswith("…")


def test_exactly_max_chars_is_not_cut() -> None:
    assert truncate_preview("z" * PREVIEW_MAX_CHARS) == "z" * PREVIEW_MAX_CHARS


def test_nul_characters_are_stripped() -> None:
    assert request_preview("a\x00b") == "ab"
    assert response_preview({"choices": [{"message": {"content": "c\x00d"}}]}) == "cd"


def test_unserialisable_values_fall_back_to_str() -> None:
    assert request_preview({"when": {1, 2}}) is not None


def test_a_single_string_argument_is_the_request_preview() -> None:
    from tracelake.ingest import compute_previews

    assert compute_previews({"question": "Where is my order?"}, "It shipped.") == (
        "Where is my order?",
        "It shipped.",
    )
    assert compute_previews({"question": "q", "user": "u"}, None)[0] == '{"question":"q","user":"u"}'
