"""MLflow's reserved span attributes (MLflow 3 tracing, including its OTLP export).

MLflow JSON-encodes every attribute value, so a span type arrives as `'"LLM"'` and a model name as
`'"gpt-4o"'`; string fields are unquoted here before use.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from tracelake.ingest.conventions._base import (
    UNSET,
    Extraction,
    as_str,
    make_cost,
    make_usage,
    parse_json,
    parse_json_object,
)

NAME: Final = "mlflow"
PREFIX: Final = "mlflow."

SPAN_TYPE: Final = "mlflow.spanType"
INPUTS: Final = "mlflow.spanInputs"
OUTPUTS: Final = "mlflow.spanOutputs"
TOKEN_USAGE: Final = "mlflow.chat.tokenUsage"
MODEL: Final = "mlflow.llm.model"
PROVIDER: Final = "mlflow.llm.provider"
COST: Final = "mlflow.llm.cost"
TRACE_TAG_PREFIX: Final = "mlflow.traceTag."
SESSION: Final = "session.id"
USER: Final = "user.id"


def unquote(value: Any) -> str | None:
    """Return the string inside a JSON-encoded string attribute; plain strings pass through."""
    if isinstance(value, str) and len(value) >= 2 and value[0] == '"' and value[-1] == '"':
        value = parse_json(value)
    return as_str(value)


def extract(attributes: Mapping[str, Any], out: Extraction) -> None:
    """Fill `out` from `mlflow.*` attributes (and MLflow's `session.id`/`user.id`)."""
    get = attributes.get
    if out.span_type is None:
        out.span_type = unquote(get(SPAN_TYPE))
    if out.inputs is UNSET and (raw := get(INPUTS)) is not None:
        out.inputs = parse_json(raw)
        out.consume(INPUTS)
    if out.outputs is UNSET and (raw := get(OUTPUTS)) is not None:
        out.outputs = parse_json(raw)
        out.consume(OUTPUTS)
    if out.model is None:
        out.model = unquote(get(MODEL))
    if out.provider is None:
        out.provider = unquote(get(PROVIDER))
    if out.usage is None and (usage := parse_json_object(get(TOKEN_USAGE))) is not None:
        out.usage = make_usage(
            usage.get("input_tokens"),
            usage.get("output_tokens"),
            usage.get("total_tokens"),
            usage.get("cache_read_input_tokens"),
        )
    if not out.cost_explicit and COST in attributes:
        out.cost_explicit = True
        out.cost = make_cost(attributes[COST])
    if out.session_id is None:
        out.session_id = unquote(get(SESSION))
    if out.user_id is None:
        out.user_id = unquote(get(USER))
    tags = {
        key[len(TRACE_TAG_PREFIX) :]: unquote(value) or ""
        for key, value in attributes.items()
        if key.startswith(TRACE_TAG_PREFIX)
    }
    out.add_tags(tags)
