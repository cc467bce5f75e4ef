"""OpenTelemetry GenAI semantic conventions, current and deprecated generations alike.

Instrumentations emit the older names (`gen_ai.system`, `gen_ai.usage.prompt_tokens`,
`gen_ai.prompt`, per-message events) unless opted in to the newer ones, so both are read. The
flattened `gen_ai.prompt.{i}.role/content` form of OpenLLMetry is read as the older content form.
Messages keep their native shape (role plus typed `parts`, or role plus `content`) under
`{"messages": [...]}`, so previews and the UI can read every generation the same way.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Final

from tracelake.ingest.conventions._base import UNSET, Extraction, as_str, make_usage, parse_json, unflatten_list
from tracelake.model import EventRecord, SpanType

NAME: Final = "otel_genai"
NAMESPACE: Final = "gen_ai"
EVENT_PREFIX: Final = "gen_ai."

OPERATION: Final = "gen_ai.operation.name"
PROVIDER: Final = "gen_ai.provider.name"
SYSTEM: Final = "gen_ai.system"  # deprecated name of the provider
REQUEST_MODEL: Final = "gen_ai.request.model"
RESPONSE_MODEL: Final = "gen_ai.response.model"
INPUT_TOKENS: Final = ("gen_ai.usage.input_tokens", "gen_ai.usage.prompt_tokens")
OUTPUT_TOKENS: Final = ("gen_ai.usage.output_tokens", "gen_ai.usage.completion_tokens")
TOTAL_TOKENS: Final = ("gen_ai.usage.total_tokens", "llm.usage.total_tokens")
CACHE_READ_TOKENS: Final = ("gen_ai.usage.cache_read.input_tokens", "gen_ai.usage.cache_read_input_tokens")
REASONING_TOKENS: Final = ("gen_ai.usage.reasoning.output_tokens", "gen_ai.usage.reasoning_tokens")
SYSTEM_INSTRUCTIONS: Final = "gen_ai.system_instructions"
INPUT_MESSAGES: Final = "gen_ai.input.messages"
OUTPUT_MESSAGES: Final = "gen_ai.output.messages"
PROMPT: Final = "gen_ai.prompt"
COMPLETION: Final = "gen_ai.completion"
TOOL_NAME: Final = "gen_ai.tool.name"
TOOL_ARGUMENTS: Final = "gen_ai.tool.call.arguments"
TOOL_RESULT: Final = "gen_ai.tool.call.result"
RETRIEVAL_QUERY: Final = "gen_ai.retrieval.query.text"
RETRIEVAL_DOCUMENTS: Final = "gen_ai.retrieval.documents"
CONVERSATION: Final = "gen_ai.conversation.id"
OPERATION_DETAILS_EVENT: Final = "gen_ai.client.inference.operation.details"

#: Operation names mapped onto span types; unknown operations keep their own name, upper-cased.
OPERATION_TYPES: Final[Mapping[str, str]] = {
    "chat": SpanType.CHAT_MODEL.value,
    "text_completion": SpanType.LLM.value,
    "generate_content": SpanType.LLM.value,
    "embeddings": SpanType.EMBEDDING.value,
    "retrieval": SpanType.RETRIEVER.value,
    "execute_tool": SpanType.TOOL.value,
    "create_agent": SpanType.AGENT.value,
    "invoke_agent": SpanType.AGENT.value,
    "invoke_workflow": SpanType.CHAIN.value,
}

# Deprecated per-message events: the event name gives the role.
_MESSAGE_EVENT_ROLES: Final[Mapping[str, str]] = {
    "gen_ai.system.message": "system",
    "gen_ai.user.message": "user",
    "gen_ai.assistant.message": "assistant",
    "gen_ai.tool.message": "tool",
}
_CHOICE_EVENT: Final = "gen_ai.choice"


# Without any of these, `make_usage` has no count to read.
_USAGE_KEYS: Final = frozenset((*INPUT_TOKENS, *OUTPUT_TOKENS, *TOTAL_TOKENS, *CACHE_READ_TOKENS, *REASONING_TOKENS))


def _first(attributes: Mapping[str, Any], keys: Sequence[str]) -> Any:
    for key in keys:
        if (value := attributes.get(key)) is not None:
            return value
    return None


def extract(attributes: Mapping[str, Any], events: Sequence[EventRecord], out: Extraction) -> None:
    """Fill `out` from `gen_ai.*` attributes and events."""
    # A span carries few of the keys read here: each converter is called only for a present value
    # (a call costs several lookups), which reads the same as `as_str(get(a)) or as_str(get(b))`.
    get = attributes.get
    model = as_str(raw) if (raw := get(RESPONSE_MODEL)) is not None else None
    if model is None and (raw := get(REQUEST_MODEL)) is not None:
        model = as_str(raw)
    if out.span_type is None:
        operation = as_str(raw) if (raw := get(OPERATION)) is not None else None
        if operation is not None:
            out.span_type = OPERATION_TYPES.get(operation, operation.upper())
        elif TOOL_NAME in attributes:
            out.span_type = SpanType.TOOL.value
        elif model is not None:
            out.span_type = SpanType.LLM.value
    if out.model is None:
        out.model = model
    if out.provider is None:
        if (raw := get(PROVIDER)) is not None:
            out.provider = as_str(raw)
        if out.provider is None and (raw := get(SYSTEM)) is not None:
            out.provider = as_str(raw)
    if out.usage is None and not _USAGE_KEYS.isdisjoint(attributes):
        out.usage = make_usage(
            _first(attributes, INPUT_TOKENS),
            _first(attributes, OUTPUT_TOKENS),
            _first(attributes, TOTAL_TOKENS),
            _first(attributes, CACHE_READ_TOKENS),
            _first(attributes, REASONING_TOKENS),
        )
    if out.session_id is None and (raw := get(CONVERSATION)) is not None:
        out.session_id = as_str(raw)
    if out.inputs is UNSET:
        _inputs(attributes, events, out)
    if out.outputs is UNSET:
        _outputs(attributes, events, out)


def _inputs(attributes: Mapping[str, Any], events: Sequence[EventRecord], out: Extraction) -> None:
    get = attributes.get
    for key in (INPUT_MESSAGES, PROMPT):
        if (raw := get(key)) is not None:
            out.inputs = _with_instructions(_as_messages(parse_json(raw)), get(SYSTEM_INSTRUCTIONS))
            out.consume(key)
            return
    for key in (TOOL_ARGUMENTS, RETRIEVAL_QUERY):
        if (raw := get(key)) is not None:
            out.inputs = parse_json(raw)
            out.consume(key)
            return
    items, keys = unflatten_list(attributes, PROMPT + ".")
    if items:
        out.inputs = {"messages": items}
        out.consume(*keys)
        return
    messages = _event_messages(events, input_side=True)
    if messages:
        out.inputs = _with_instructions({"messages": messages}, get(SYSTEM_INSTRUCTIONS))


def _outputs(attributes: Mapping[str, Any], events: Sequence[EventRecord], out: Extraction) -> None:
    get = attributes.get
    for key in (OUTPUT_MESSAGES, COMPLETION):
        if (raw := get(key)) is not None:
            out.outputs = _as_messages(parse_json(raw))
            out.consume(key)
            return
    for key in (TOOL_RESULT, RETRIEVAL_DOCUMENTS):
        if (raw := get(key)) is not None:
            out.outputs = parse_json(raw)
            out.consume(key)
            return
    items, keys = unflatten_list(attributes, COMPLETION + ".")
    if items:
        out.outputs = {"messages": items}
        out.consume(*keys)
        return
    messages = _event_messages(events, input_side=False)
    if messages:
        out.outputs = {"messages": messages}


def _as_messages(value: Any) -> Any:
    # A list is a message list; a bare string (old `gen_ai.prompt` text) or object stays as it is.
    return {"messages": value} if isinstance(value, list) else value


def _with_instructions(inputs: Any, instructions: Any) -> Any:
    if instructions is None or not isinstance(inputs, dict):
        return inputs
    return {"system_instructions": parse_json(instructions), **inputs}


def _event_messages(events: Sequence[EventRecord], *, input_side: bool) -> list[Any]:
    """Rebuild messages from the deprecated per-message events or the operation-details event."""
    messages: list[Any] = []
    for event in events:
        name = event.name
        if not name.startswith(EVENT_PREFIX):
            continue
        attrs = event.attributes
        if name == OPERATION_DETAILS_EVENT:
            parsed = parse_json(attrs.get(INPUT_MESSAGES if input_side else OUTPUT_MESSAGES))
            if isinstance(parsed, list):
                messages.extend(parsed)
        elif input_side and (role := _MESSAGE_EVENT_ROLES.get(name)) is not None:
            content = _event_content(attrs)
            if isinstance(content, dict) and "content" in content:
                messages.append({"role": role, **content})
            else:
                messages.append({"role": role, "content": content})
        elif not input_side and name == _CHOICE_EVENT:
            message = parse_json(attrs.get("message"))
            if message is None:
                content = _event_content(attrs)
                message = content.get("message", content) if isinstance(content, dict) else content
            if message is not None:
                messages.append(message)
    return messages


def _event_content(attrs: Mapping[str, Any]) -> Any:
    # Event bodies travel in logs; instrumentations that put them on span events use `content` or
    # `gen_ai.event.content` (a JSON object holding the message).
    raw = attrs.get("gen_ai.event.content")
    if raw is None:
        raw = attrs.get("content")
    return parse_json(raw)
