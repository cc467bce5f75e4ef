"""Safe JSON for anything an agent passes around.

Runs on the export thread. It must never raise: pydantic models, dataclasses, enums, datetimes,
bytes, sets, objects with cycles and objects whose `__repr__` raises all become JSON, and a value
larger than the configured limit is cut with a visible marker.
"""

from __future__ import annotations

import base64
import dataclasses
import enum
from collections.abc import Mapping
from typing import Any

import orjson

_OPTIONS = orjson.OPT_NON_STR_KEYS | orjson.OPT_SERIALIZE_NUMPY
_MAX_DEPTH = 64
_BYTES_PREVIEW = 256
TRUNCATION_MARKER = "…[tracelake: truncated {shown} of {total} bytes]"


def _default(value: Any) -> Any:
    """Teach orjson the types it does not know; anything else becomes its repr."""
    dump = getattr(value, "model_dump", None)
    if callable(dump) and isinstance(value, type) is False:
        return dump(mode="json")
    if isinstance(value, (set, frozenset)):
        return list(value)
    if isinstance(value, (bytes, bytearray, memoryview)):
        return _describe_bytes(bytes(value))
    if isinstance(value, Mapping):
        return dict(value)
    if isinstance(value, (tuple, list)):
        return list(value)
    return _safe_repr(value)


def _describe_bytes(raw: bytes) -> dict[str, Any]:
    return {
        "type": "bytes",
        "size": len(raw),
        "base64": base64.b64encode(raw[:_BYTES_PREVIEW]).decode(),
        "truncated": len(raw) > _BYTES_PREVIEW,
    }


def _safe_repr(value: Any) -> str:
    try:
        return repr(value)
    except Exception:
        return f"<{type(value).__qualname__} object (repr failed)>"


def _walk(value: Any, depth: int, seen: set[int]) -> Any:
    """Slow path: a cycle-aware copy into plain JSON types, used when orjson refuses the value."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if depth > _MAX_DEPTH:
        return "<max depth reached>"
    if isinstance(value, enum.Enum):
        return _walk(value.value, depth + 1, seen)
    if isinstance(value, (bytes, bytearray, memoryview)):
        return _describe_bytes(bytes(value))
    ident = id(value)
    if ident in seen:
        return f"<cycle: {type(value).__qualname__}>"
    seen.add(ident)
    try:
        if isinstance(value, Mapping):
            return {_key(k): _walk(v, depth + 1, seen) for k, v in list(value.items())}
        if isinstance(value, (list, tuple, set, frozenset)):
            return [_walk(v, depth + 1, seen) for v in list(value)]
        if dataclasses.is_dataclass(value) and not isinstance(value, type):
            fields = {f.name: getattr(value, f.name, None) for f in dataclasses.fields(value)}
            return _walk(fields, depth + 1, seen)
        dump = getattr(value, "model_dump", None)
        if callable(dump):
            try:
                return _walk(dump(), depth + 1, seen)
            except Exception:
                return _safe_repr(value)
        try:
            return orjson.loads(orjson.dumps(value, default=_default_no_containers, option=_OPTIONS))
        except Exception:
            return _safe_repr(value)
    finally:
        seen.discard(ident)


def _default_no_containers(value: Any) -> Any:
    return _safe_repr(value)


def _key(key: Any) -> str:
    return key if isinstance(key, str) else _safe_repr(key)


def to_json(value: Any, max_bytes: int) -> tuple[str, bool]:
    """Serialise `value` to a JSON string of at most about `max_bytes`; returns (json, truncated)."""
    try:
        raw = orjson.dumps(value, default=_default, option=_OPTIONS)
    except Exception:
        try:
            raw = orjson.dumps(_walk(value, 0, set()), option=_OPTIONS)
        except Exception:
            raw = orjson.dumps(_safe_repr(value))
    if len(raw) <= max_bytes:
        return raw.decode(), False
    text = raw[:max_bytes].decode(errors="ignore")
    marker = TRUNCATION_MARKER.format(shown=len(text.encode()), total=len(raw))
    # A truncated value is no longer valid JSON, so it is stored as a JSON string with the marker.
    return orjson.dumps(text + marker).decode(), True


def attribute_value(value: Any, max_bytes: int) -> Any:
    """Coerce a user attribute into an OpenTelemetry attribute value (primitives or lists of them)."""
    if isinstance(value, (str, bool, int, float)):
        if isinstance(value, str) and len(value) > max_bytes:
            return value[:max_bytes] + TRUNCATION_MARKER.format(shown=max_bytes, total=len(value))
        return value
    if isinstance(value, (list, tuple)) and all(isinstance(v, (str, bool, int, float)) for v in value):
        kinds = {type(v) for v in value}
        if len(kinds) <= 1:
            return list(value)
    return to_json(value, max_bytes)[0]
