from __future__ import annotations

import pytest

from tracelake.ingest import CONVENTIONS_ATTRIBUTE, normalize
from tracelake.model import Cost, TokenUsage

from .records import js, record

REQUEST = {
    "messages": [
        {"role": "system", "content": "You are terse."},
        {"role": "user", "content": "Capital of France?"},
    ],
    "model": "gpt-4o-mini",
    "temperature": 0,
}
RESPONSE = {
    "id": "chatcmpl-1",
    "object": "chat.completion",
    "model": "gpt-4o-mini-2024-07-18",
    "choices": [{"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": "Paris."}}],
    "usage": {"prompt_tokens": 1200, "completion_tokens": 40, "total_tokens": 1240},
}

# What openinference-instrumentation-openai puts on a chat completion span.
OPENAI_LLM_SPAN = {
    "openinference.span.kind": "LLM",
    "input.value": js(REQUEST),
    "input.mime_type": "application/json",
    "output.value": js(RESPONSE),
    "output.mime_type": "application/json",
    "llm.invocation_parameters": js({"model": "gpt-4o-mini", "temperature": 0}),
    "llm.input_messages.0.message.role": "system",
    "llm.input_messages.0.message.content": "You are terse.",
    "llm.input_messages.1.message.role": "user",
    "llm.input_messages.1.message.content": "Capital of France?",
    "llm.output_messages.0.message.role": "assistant",
    "llm.output_messages.0.message.content": "Paris.",
    "llm.model_name": "gpt-4o-mini-2024-07-18",
    "llm.provider": "openai",
    "llm.system": "openai",
    "llm.token_count.prompt": 1200,
    "llm.token_count.completion": 40,
    "llm.token_count.total": 1240,
    "llm.token_count.prompt_details.cache_read": 1024,
    "llm.token_count.completion_details.reasoning": 0,
}


def test_openai_instrumentor_llm_span() -> None:
    [batch] = normalize([record(attributes=OPENAI_LLM_SPAN, name="ChatCompletion")])
    [span] = batch.spans

    assert span.span_type == "LLM"
    assert span.inputs == REQUEST
    assert span.outputs == RESPONSE
    assert span.model_name == "gpt-4o-mini-2024-07-18"
    assert span.token_usage == TokenUsage(
        input_tokens=1200, output_tokens=40, total_tokens=1240, cached_input_tokens=1024
    )
    assert span.cost is not None
    assert span.cost.input_cost == pytest.approx(176 * 0.15e-6 + 1024 * 0.075e-6)
    assert span.attributes[CONVENTIONS_ATTRIBUTE] == ["openinference"]
    assert "input.value" not in span.attributes
    assert "output.value" not in span.attributes
    # Flattened messages were not needed for inputs (input.value won), so they stay as raw attributes.
    assert span.attributes["llm.input_messages.1.message.content"] == "Capital of France?"
    assert batch.fields.request_preview == "Capital of France?"
    assert batch.fields.response_preview == "Paris."


def test_flattened_messages_are_rebuilt_when_input_value_is_absent() -> None:
    attributes = {
        "openinference.span.kind": "LLM",
        "llm.input_messages.0.message.role": "user",
        "llm.input_messages.0.message.contents.0.message_content.type": "text",
        "llm.input_messages.0.message.contents.0.message_content.text": "What is in this image?",
        "llm.input_messages.0.message.contents.1.message_content.type": "image",
        "llm.input_messages.0.message.contents.1.message_content.image.image.url": "https://x/y.png",
        "llm.input_messages.1.message.role": "assistant",
        "llm.input_messages.1.message.tool_calls.0.tool_call.id": "call_1",
        "llm.input_messages.1.message.tool_calls.0.tool_call.function.name": "lookup",
        "llm.input_messages.1.message.tool_calls.0.tool_call.function.arguments": '{"q": "x"}',
        "llm.input_messages.2.message.role": "tool",
        "llm.input_messages.2.message.tool_call_id": "call_1",
        "llm.input_messages.2.message.content": "a cat",
        "llm.output_messages.0.message.role": "assistant",
        "llm.output_messages.0.message.content": "A cat.",
    }
    [batch] = normalize([record(attributes=attributes)])
    [span] = batch.spans
    assert span.inputs == {
        "messages": [
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "What is in this image?"},
                    {"type": "image", "image": {"image": {"url": "https://x/y.png"}}},
                ],
            },
            {
                "role": "assistant",
                "tool_calls": [
                    {"type": "function", "id": "call_1", "function": {"name": "lookup", "arguments": '{"q": "x"}'}}
                ],
            },
            {"role": "tool", "tool_call_id": "call_1", "content": "a cat"},
        ]
    }
    assert span.outputs == {"messages": [{"role": "assistant", "content": "A cat."}]}
    assert not any(key.startswith(("llm.input_messages.", "llm.output_messages.")) for key in span.attributes)
    assert batch.fields.request_preview == "What is in this image?"
    assert batch.fields.response_preview == "A cat."


def test_retriever_documents_become_outputs() -> None:
    attributes = {
        "openinference.span.kind": "RETRIEVER",
        "input.value": "reset password",
        "retrieval.documents.0.document.id": "doc-1",
        "retrieval.documents.0.document.content": "Go to settings.",
        "retrieval.documents.0.document.score": 0.92,
        "retrieval.documents.0.document.metadata": js({"source": "kb"}),
        "retrieval.documents.1.document.id": "doc-2",
        "retrieval.documents.1.document.content": "Call support.",
    }
    [batch] = normalize([record(attributes=attributes)])
    [span] = batch.spans
    assert span.span_type == "RETRIEVER"
    assert span.inputs == "reset password"
    assert span.outputs == [
        {"id": "doc-1", "content": "Go to settings.", "score": 0.92, "metadata": {"source": "kb"}},
        {"id": "doc-2", "content": "Call support."},
    ]


def test_text_mime_type_keeps_json_looking_text_as_text() -> None:
    attributes = {"openinference.span.kind": "CHAIN", "input.value": '{"a": 1}', "output.value": "[1, 2]"}
    [batch] = normalize([record(attributes=attributes)])
    assert batch.spans[0].inputs == '{"a": 1}'
    assert batch.spans[0].outputs == "[1, 2]"


def test_context_attributes_become_trace_fields() -> None:
    attributes = {
        "openinference.span.kind": "AGENT",
        "session.id": "sess-9",
        "user.id": "user-9",
        "metadata": js({"tenant": "acme", "tier": 2}),
        "tag.tags": ["beta", "web"],
    }
    [batch] = normalize([record(attributes=attributes)])
    assert batch.fields.metadata == {"session_id": "sess-9", "user_id": "user-9", "tenant": "acme", "tier": "2"}
    assert batch.fields.tags == {"beta": "", "web": ""}
    assert batch.spans[0].span_type == "AGENT"


def test_instrumentor_cost_is_kept() -> None:
    attributes = {**OPENAI_LLM_SPAN, "llm.cost.prompt": 0.5, "llm.cost.completion": 0.25}
    [batch] = normalize([record(attributes=attributes)])
    assert batch.spans[0].cost == Cost(0.5, 0.25, 0.75)


@pytest.mark.parametrize(
    ("kind", "span_type"),
    [("llm", "LLM"), ("TOOL", "TOOL"), ("EMBEDDING", "EMBEDDING"), ("RERANKER", "RERANKER"), ("PROMPT", "PROMPT")],
)
def test_span_kinds(kind: str, span_type: str) -> None:
    [batch] = normalize([record(attributes={"openinference.span.kind": kind})])
    assert batch.spans[0].span_type == span_type
