"""What a convention mapper fills in, and the value coercions every mapper needs.

Attribute values come off the wire: numbers may arrive as strings, JSON may be malformed, and a
list may be flattened into indexed keys. Nothing here raises on bad input; a value that cannot be
read is treated as absent (or, for JSON payloads, kept as the raw string).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

import orjson

from tracelake.model import Cost, TokenUsage


class _Unset:
    """Marks inputs/outputs no convention has supplied yet (None is a legitimate JSON value)."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "UNSET"


UNSET: Final = _Unset()


class Extraction:
    """Per-span result of applying the conventions in precedence order.

    Mappers run from the highest precedence down and only fill fields that are still empty, so the
    first convention that has a value wins without later ones paying to decode it.
    """

    __slots__ = (
        "consumed",
        "conventions",
        "cost",
        "cost_explicit",
        "inputs",
        "metadata",
        "model",
        "outputs",
        "provider",
        "request_preview",
        "response_preview",
        "session_id",
        "span_type",
        "tags",
        "usage",
        "user_id",
    )

    def __init__(self) -> None:
        self.span_type: str | None = None
        self.inputs: Any = UNSET
        self.outputs: Any = UNSET
        self.model: str | None = None
        self.provider: str | None = None
        self.usage: TokenUsage | None = None
        self.cost: Cost | None = None
        # A cost present on the span (even JSON null) is the user's or the instrumentor's word and
        # is never replaced by a computed one.
        self.cost_explicit = False
        self.session_id: str | None = None
        self.user_id: str | None = None
        self.tags: dict[str, str] | None = None
        self.metadata: dict[str, str] | None = None
        self.request_preview: str | None = None
        self.response_preview: str | None = None
        # Attribute keys whose values became `inputs`/`outputs`; dropped from the stored attributes.
        # Tuples, shared while no convention adds to them: one span's extraction allocates nothing
        # it does not need (ingest's allocations are what the garbage collector's passes cost).
        self.consumed: tuple[str, ...] = ()
        self.conventions: tuple[str, ...] = ()

    def consume(self, *keys: str) -> None:
        """Record attribute keys whose values became `inputs` or `outputs`."""
        self.consumed = (*self.consumed, *keys)

    def add_tags(self, tags: dict[str, str] | None) -> None:
        """Add tags, keeping values already set by a higher-precedence convention."""
        if tags:
            self.tags = _merge_missing(self.tags, tags)

    def add_metadata(self, metadata: dict[str, str] | None) -> None:
        """Add metadata, keeping values already set by a higher-precedence convention."""
        if metadata:
            self.metadata = _merge_missing(self.metadata, metadata)


def _merge_missing(current: dict[str, str] | None, new: dict[str, str]) -> dict[str, str]:
    if not current:
        return dict(new)
    for key, value in new.items():
        current.setdefault(key, value)
    return current


def parse_json(value: Any) -> Any:
    """Decode a JSON string; anything else (or malformed JSON) is returned unchanged."""
    if not isinstance(value, str):
        return value
    try:
        return orjson.loads(value)
    except orjson.JSONDecodeError:
        return value


def parse_json_object(value: Any) -> dict[str, Any] | None:
    """Decode a JSON object (or accept a dict); None for anything else."""
    parsed = parse_json(value)
    return parsed if isinstance(parsed, dict) else None


def dumps_compact(value: Any) -> str:
    """Serialise to compact JSON, falling back to `str` for values JSON cannot represent."""
    try:
        return orjson.dumps(value, default=str, option=orjson.OPT_NON_STR_KEYS).decode()
    except (TypeError, orjson.JSONEncodeError):
        return str(value)


def as_str(value: Any) -> str | None:
    """Return a non-empty string form of an identifier-like value, else None."""
    if isinstance(value, str):
        return value or None
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int | float):
        return str(value)
    return None


_INT64_MAX: Final = 2**63 - 1


def as_int(value: Any) -> int | None:
    """Read a token count from an int, float or numeric string; None unless in 0..2**63-1."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        number = value
    elif isinstance(value, float | str):
        try:
            number = int(float(value))
        except (ValueError, OverflowError):
            return None
    else:
        return None
    # Counts land in 64-bit columns; anything outside is garbage, not usage.
    return number if 0 <= number <= _INT64_MAX else None


def as_float(value: Any) -> float | None:
    """Read a cost from an int, float or numeric string."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return None
    return None


def str_dict(value: Any) -> dict[str, str] | None:
    """Read a JSON object as str→str; non-string values become compact JSON, nulls are dropped."""
    parsed = parse_json_object(value)
    if not parsed:
        return None
    return {
        str(key): item if isinstance(item, str) else dumps_compact(item)
        for key, item in parsed.items()
        if item is not None
    }


def make_usage(
    input_tokens: Any = None,
    output_tokens: Any = None,
    total_tokens: Any = None,
    cached_input_tokens: Any = None,
    reasoning_tokens: Any = None,
) -> TokenUsage | None:
    """Build a TokenUsage from raw counts; None when no count is present.

    The total is input + output when the source does not report one.
    """
    inp = as_int(input_tokens)
    out = as_int(output_tokens)
    total = as_int(total_tokens)
    if inp is None and out is None and total is None:
        return None
    inp = inp or 0
    out = out or 0
    # Positional, in TokenUsage's field order: binding keywords costs more than the rest of this call.
    return TokenUsage(
        inp,
        out,
        total or inp + out,
        (cached_input_tokens is not None and as_int(cached_input_tokens)) or 0,
        (reasoning_tokens is not None and as_int(reasoning_tokens)) or 0,
    )


def make_cost(value: Any) -> Cost | None:
    """Read an `{input_cost, output_cost, total_cost}` object; None unless it is an object."""
    parsed = parse_json_object(value)
    if parsed is None:
        return None
    input_cost = as_float(parsed.get("input_cost")) or 0.0
    output_cost = as_float(parsed.get("output_cost")) or 0.0
    total = as_float(parsed.get("total_cost"))
    return Cost(input_cost, output_cost, input_cost + output_cost if total is None else total)


def unflatten_list(attributes: Mapping[str, Any], prefix: str) -> tuple[list[Any], list[str]]:
    """Rebuild a list flattened as `{prefix}{i}.{path}` keys (OpenInference's encoding).

    Returns the items in index order and the keys that were read. `a.0.b.c = 1` yields
    `[{"b": {"c": 1}}]`; numeric path segments deeper down become lists too.
    """
    items: dict[int, dict[str, Any]] = {}
    keys: list[str] = []
    start = len(prefix)
    for key, value in attributes.items():
        if not key.startswith(prefix):
            continue
        index, _, path = key[start:].partition(".")
        if not path or not index.isdigit():
            continue
        keys.append(key)
        _set_path(items.setdefault(int(index), {}), path.split("."), value)
    return [_listify(items[i]) for i in sorted(items)], keys


def _set_path(node: dict[str, Any], path: list[str], value: Any) -> None:
    for segment in path[:-1]:
        child = node.setdefault(segment, {})
        if not isinstance(child, dict):
            return  # `a = 1` and `a.b = 2` both present: keep the scalar.
        node = child
    node.setdefault(path[-1], value)


def _listify(node: Any) -> Any:
    if not isinstance(node, dict):
        return node
    if node and all(key.isdigit() for key in node):
        return [_listify(node[key]) for key in sorted(node, key=int)]
    return {key: _listify(child) for key, child in node.items()}
