"""OpenInference (Arize Phoenix and the instrumentors tracelake's autolog uses).

OpenInference flattens lists into indexed keys (`llm.input_messages.0.message.role`); they are
rebuilt into OpenAI-style message lists only when the span carries no `input.value`/`output.value`,
which instrumentors set to the raw request and response.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from tracelake.ingest.conventions._base import (
    UNSET,
    Extraction,
    as_float,
    as_str,
    make_usage,
    parse_json,
    str_dict,
    unflatten_list,
)
from tracelake.model import Cost

NAME: Final = "openinference"
#: First segments of the attribute names OpenInference defines; any of them marks a span as using it.
NAMESPACES: Final = frozenset(
    {"openinference", "input", "output", "llm", "retrieval", "embedding", "reranker", "tag", "metadata"}
)

SPAN_KIND: Final = "openinference.span.kind"
INPUT_VALUE: Final = "input.value"
INPUT_MIME: Final = "input.mime_type"
OUTPUT_VALUE: Final = "output.value"
OUTPUT_MIME: Final = "output.mime_type"
MODEL: Final = "llm.model_name"
# Embedding and reranker spans name their model under their own namespace.
OTHER_MODELS: Final = ("embedding.model_name", "reranker.model_name")
PROVIDER: Final = "llm.provider"
SYSTEM: Final = "llm.system"
PROMPT_TOKENS: Final = "llm.token_count.prompt"
COMPLETION_TOKENS: Final = "llm.token_count.completion"
TOTAL_TOKENS: Final = "llm.token_count.total"
CACHE_READ_TOKENS: Final = "llm.token_count.prompt_details.cache_read"
REASONING_TOKENS: Final = "llm.token_count.completion_details.reasoning"
COST_PROMPT: Final = "llm.cost.prompt"
COST_COMPLETION: Final = "llm.cost.completion"
COST_TOTAL: Final = "llm.cost.total"
INPUT_MESSAGES: Final = "llm.input_messages."
OUTPUT_MESSAGES: Final = "llm.output_messages."
DOCUMENTS: Final = "retrieval.documents."
SESSION: Final = "session.id"
USER: Final = "user.id"
METADATA: Final = "metadata"
TAGS: Final = "tag.tags"

_JSON_MIME: Final = "application/json"


def extract(attributes: Mapping[str, Any], out: Extraction) -> None:
    """Fill `out` from OpenInference attributes."""
    get = attributes.get
    if out.span_type is None and (kind := as_str(get(SPAN_KIND))) is not None:
        # OpenInference kinds share tracelake's names (LLM, CHAIN, TOOL, ...); PROMPT and other
        # newer kinds are kept as custom types rather than guessed.
        out.span_type = kind.upper()
    if out.inputs is UNSET:
        _inputs(attributes, out)
    if out.outputs is UNSET:
        _outputs(attributes, out)
    if out.model is None:
        out.model = as_str(get(MODEL)) or as_str(get(OTHER_MODELS[0])) or as_str(get(OTHER_MODELS[1]))
    if out.provider is None:
        out.provider = as_str(get(PROVIDER)) or as_str(get(SYSTEM))
    if out.usage is None:
        out.usage = make_usage(
            get(PROMPT_TOKENS), get(COMPLETION_TOKENS), get(TOTAL_TOKENS), get(CACHE_READ_TOKENS), get(REASONING_TOKENS)
        )
    if not out.cost_explicit and (COST_TOTAL in attributes or COST_PROMPT in attributes):
        out.cost_explicit = True
        prompt = as_float(get(COST_PROMPT)) or 0.0
        completion = as_float(get(COST_COMPLETION)) or 0.0
        total = as_float(get(COST_TOTAL))
        out.cost = Cost(prompt, completion, prompt + completion if total is None else total)
    if out.session_id is None:
        out.session_id = as_str(get(SESSION))
    if out.user_id is None:
        out.user_id = as_str(get(USER))
    if (raw := get(METADATA)) is not None:
        out.add_metadata(str_dict(raw))
    if (raw := get(TAGS)) is not None:
        out.add_tags(_tags(raw))


def _decode(value: Any, mime_type: Any) -> Any:
    # OpenInference's default mime type is text/plain: a string that merely looks like JSON stays text.
    return parse_json(value) if mime_type == _JSON_MIME else value


def _inputs(attributes: Mapping[str, Any], out: Extraction) -> None:
    if (raw := attributes.get(INPUT_VALUE)) is not None:
        out.inputs = _decode(raw, attributes.get(INPUT_MIME))
        out.consume(INPUT_VALUE)
        return
    items, keys = unflatten_list(attributes, INPUT_MESSAGES)
    if items:
        out.inputs = {"messages": [_message(item) for item in items]}
        out.consume(*keys)


def _outputs(attributes: Mapping[str, Any], out: Extraction) -> None:
    if (raw := attributes.get(OUTPUT_VALUE)) is not None:
        out.outputs = _decode(raw, attributes.get(OUTPUT_MIME))
        out.consume(OUTPUT_VALUE)
        return
    items, keys = unflatten_list(attributes, OUTPUT_MESSAGES)
    if items:
        out.outputs = {"messages": [_message(item) for item in items]}
        out.consume(*keys)
        return
    items, keys = unflatten_list(attributes, DOCUMENTS)
    if items:
        out.outputs = [_document(item) for item in items]
        out.consume(*keys)


def _message(item: Any) -> dict[str, Any]:
    """Turn `{"message": {role, content | contents, tool_calls, ...}}` into an OpenAI-style message."""
    message = item.get("message") if isinstance(item, dict) else None
    if not isinstance(message, dict):
        return {}
    result: dict[str, Any] = {}
    for key in ("role", "name", "tool_call_id"):
        if key in message:
            result[key] = message[key]
    if "content" in message:
        result["content"] = message["content"]
    elif isinstance(contents := message.get("contents"), list):
        result["content"] = [_content_part(part) for part in contents]
    if isinstance(tool_calls := message.get("tool_calls"), list):
        result["tool_calls"] = [_tool_call(call) for call in tool_calls]
    return result


def _content_part(part: Any) -> Any:
    content = part.get("message_content") if isinstance(part, dict) else None
    if not isinstance(content, dict):
        return part
    if content.get("type", "text") == "text":
        return {"type": "text", "text": content.get("text", "")}
    return content


def _tool_call(call: Any) -> Any:
    tool_call = call.get("tool_call") if isinstance(call, dict) else None
    if not isinstance(tool_call, dict):
        return call
    function = tool_call.get("function")
    result: dict[str, Any] = {"type": "function"}
    if "id" in tool_call:
        result["id"] = tool_call["id"]
    if isinstance(function, dict):
        result["function"] = {"name": function.get("name"), "arguments": function.get("arguments")}
    return result


def _document(item: Any) -> Any:
    document = item.get("document") if isinstance(item, dict) else None
    if not isinstance(document, dict):
        return item
    result = dict(document)
    if "metadata" in result:
        result["metadata"] = parse_json(result["metadata"])
    return result


def _tags(value: Any) -> dict[str, str] | None:
    # `tag.tags` is a list of labels; tracelake tags are key/value, so a label becomes a key with
    # an empty value.
    parsed = parse_json(value)
    if isinstance(parsed, str):
        parsed = [parsed]
    if not isinstance(parsed, list):
        return None
    return {tag: "" for tag in parsed if isinstance(tag, str) and tag}
