"""tracelake's own attributes, as its SDK writes them: the highest-precedence convention.

This is the common path (every span of the embedded SDK), so it reads a fixed set of keys with
plain dict lookups and decodes JSON only where a key is present. Most spans carry only a type,
inputs and outputs: `mapper` gives their key shape `extract_span`, which reads just those three.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from collections.abc import Set as AbstractSet
from typing import Any, Final

from tracelake.ingest.conventions._base import (
    UNSET,
    Extraction,
    as_str,
    make_cost,
    make_usage,
    parse_json,
    parse_json_object,
    str_dict,
)
from tracelake.model import SpanAttributes

NAME: Final = "tracelake"
PREFIX: Final = "tracelake."

# Module-level names: one global lookup instead of a global plus a class attribute, per key per span.
_SPAN_TYPE: Final = SpanAttributes.SPAN_TYPE
_INPUTS: Final = SpanAttributes.INPUTS
_OUTPUTS: Final = SpanAttributes.OUTPUTS
_MODEL: Final = SpanAttributes.MODEL
_PROVIDER: Final = SpanAttributes.PROVIDER
_TOKEN_USAGE: Final = SpanAttributes.TOKEN_USAGE
_COST: Final = SpanAttributes.COST
_TRACE_TAGS: Final = SpanAttributes.TRACE_TAGS
_TRACE_METADATA: Final = SpanAttributes.TRACE_METADATA
_TRACE_REQUEST_PREVIEW: Final = SpanAttributes.TRACE_REQUEST_PREVIEW
_TRACE_RESPONSE_PREVIEW: Final = SpanAttributes.TRACE_RESPONSE_PREVIEW


# Keys beyond a span's type, inputs and outputs: LLM calls and the local root span carry them.
_OTHER_KEYS: Final = frozenset(
    {
        _MODEL,
        _PROVIDER,
        _TOKEN_USAGE,
        _COST,
        _TRACE_TAGS,
        _TRACE_METADATA,
        _TRACE_REQUEST_PREVIEW,
        _TRACE_RESPONSE_PREVIEW,
    }
)


def mapper(keys: AbstractSet[str]) -> Callable[[Mapping[str, Any], Extraction], None]:
    """Return the cheapest mapper that reads every tracelake key of spans with these keys."""
    return extract_span if keys.isdisjoint(_OTHER_KEYS) else extract


def extract_span(attributes: Mapping[str, Any], out: Extraction) -> None:
    """Fill `out` from a span's type, inputs and outputs: all most spans carry."""
    get = attributes.get
    if out.span_type is None and (raw := get(_SPAN_TYPE)) is not None:
        out.span_type = as_str(raw)
    if out.inputs is UNSET and (raw := get(_INPUTS)) is not None:
        out.inputs = parse_json(raw)
        out.consumed += (_INPUTS,)  # (`consume` without its call: this runs for nearly every span)
    if out.outputs is UNSET and (raw := get(_OUTPUTS)) is not None:
        out.outputs = parse_json(raw)
        out.consumed += (_OUTPUTS,)


def extract(attributes: Mapping[str, Any], out: Extraction) -> None:
    """Fill `out` from `tracelake.*` attributes."""
    extract_span(attributes, out)
    # One dict lookup per key, helpers only for keys that are present.
    get = attributes.get
    if (raw := get(_MODEL)) is not None and out.model is None:
        out.model = as_str(raw)
    if (raw := get(_PROVIDER)) is not None and out.provider is None:
        out.provider = as_str(raw)
    if (raw := get(_TOKEN_USAGE)) is not None and out.usage is None:
        usage = parse_json_object(raw)
        if usage is not None:
            out.usage = make_usage(
                usage.get("input_tokens"),
                usage.get("output_tokens"),
                usage.get("total_tokens"),
                usage.get("cached_input_tokens"),
                usage.get("reasoning_tokens"),
            )
    if _COST in attributes and not out.cost_explicit:
        out.cost_explicit = True
        out.cost = make_cost(attributes[_COST])
    # Trace-level values ride on the local root span only; most spans have none of these.
    if (raw := get(_TRACE_TAGS)) is not None:
        out.add_tags(str_dict(raw))
    if (raw := get(_TRACE_METADATA)) is not None:
        out.add_metadata(str_dict(raw))
    if (raw := get(_TRACE_REQUEST_PREVIEW)) is not None and out.request_preview is None:
        out.request_preview = as_str(raw)
    if (raw := get(_TRACE_RESPONSE_PREVIEW)) is not None and out.response_preview is None:
        out.response_preview = as_str(raw)
