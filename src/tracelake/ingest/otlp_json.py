"""The OTLP/JSON encoding of trace requests and responses.

Follows the OTLP specification's JSON mapping: lowerCamelCase keys (snake_case accepted too, as
protobuf's JSON parsers do), trace and span ids as hex strings (base64, which some senders emit
because it is protobuf's own mapping of bytes, is accepted as well), 64-bit integers as strings or
numbers, enums as numbers or names.

Problems above the span (the body is not JSON, `resourceSpans` is not a list) fail the request with
`OtlpDecodeError`; problems of one span refuse that span only.
"""

from __future__ import annotations

import base64
import binascii
import math
from typing import Any, Final

import orjson

from tracelake.ingest.otlp import (
    SPAN_KINDS,
    DecodedTraces,
    OtlpDecodeError,
    RejectedSpan,
    ResourceGroup,
    attribute_value,
    check_span,
)
from tracelake.model import EventRecord, SpanRecord, StatusCode

__all__ = ["decode_json", "encode_json_response"]

_STATUS_NAMES: Final = {
    0: StatusCode.UNSET,
    1: StatusCode.OK,
    2: StatusCode.ERROR,
    "STATUS_CODE_UNSET": StatusCode.UNSET,
    "STATUS_CODE_OK": StatusCode.OK,
    "STATUS_CODE_ERROR": StatusCode.ERROR,
}
_KIND_NAMES: Final = {f"SPAN_KIND_{name}": name for name in SPAN_KINDS[1:]} | {"SPAN_KIND_UNSPECIFIED": "INTERNAL"}


#: Deepest nesting of arrays and key-value lists in one attribute value (protobuf's parser allows
#: about as much; deeper JSON would exhaust the encoder's recursion).
MAX_DEPTH: Final = 32


class _SpanError(Exception):
    """A field of one span is unreadable: the span is refused with this message."""


def _get(obj: dict[str, Any], camel: str, snake: str) -> Any:
    value = obj.get(camel)
    return obj.get(snake) if value is None else value


def _list(obj: dict[str, Any], camel: str, snake: str, where: str) -> list[Any]:
    value = _get(obj, camel, snake)
    if value is None:
        return []
    if not isinstance(value, list):
        raise OtlpDecodeError(f"{where}.{camel} must be a list, not {type(value).__name__}")
    return value


def _object(value: Any, where: str) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise OtlpDecodeError(f"{where} must be an object, not {type(value).__name__}")
    return value


def _id(value: Any, size: int, what: str) -> str | None:
    """Return an id as lowercase hex: from hex (the OTLP mapping) or base64; None if absent."""
    if value is None or value == "":
        return None
    if isinstance(value, str):
        if len(value) == 2 * size:
            try:
                return bytes.fromhex(value).hex()
            except ValueError:
                pass
        try:
            altchars = b"-_" if "-" in value or "_" in value else None
            raw = base64.b64decode(value + "=" * (-len(value) % 4), altchars=altchars, validate=True)
        except (binascii.Error, ValueError):
            raw = b""
        if len(raw) == size:
            return raw.hex()
    raise _SpanError(f"invalid {what}: expected {2 * size} hex characters, got {value!r:.60}")


def _int(value: Any, what: str) -> int:
    if value is None or value == "":
        return 0
    if type(value) is int:
        return value
    try:
        if isinstance(value, str):
            return int(value)
        if isinstance(value, float) and math.isfinite(value):
            return int(value)
    except ValueError:
        pass
    raise _SpanError(f"{what} is not an integer: {value!r:.60}")


def _plain(value: Any, depth: int = 0) -> Any:
    """Return an AnyValue object as a JSON-compatible Python value."""
    if not isinstance(value, dict):
        return None
    if depth > MAX_DEPTH:
        raise _SpanError(f"an attribute value is nested deeper than {MAX_DEPTH} levels")
    for key, item in value.items():
        if key == "stringValue" or key == "string_value":
            return item
        if key == "intValue" or key == "int_value":
            try:
                return int(item)
            except (TypeError, ValueError):
                return item
        if key == "doubleValue" or key == "double_value":
            try:
                return float(item)
            except (TypeError, ValueError):
                return item
        if key == "boolValue" or key == "bool_value":
            return item
        if key == "arrayValue" or key == "array_value":
            values = item.get("values") if isinstance(item, dict) else None
            return [_plain(entry, depth + 1) for entry in values] if isinstance(values, list) else []
        if key == "kvlistValue" or key == "kvlist_value":
            values = item.get("values") if isinstance(item, dict) else None
            if not isinstance(values, list):
                return {}
            return {str(kv.get("key")): _plain(kv.get("value"), depth + 1) for kv in values if isinstance(kv, dict)}
        if key == "bytesValue" or key == "bytes_value":
            return item
    return None


def _attributes(pairs: Any) -> dict[str, Any]:
    attributes: dict[str, Any] = {}
    if not isinstance(pairs, list):
        return attributes
    for pair in pairs:
        if not isinstance(pair, dict):
            continue
        key = pair.get("key")
        value = pair.get("value")
        if not isinstance(key, str) or not isinstance(value, dict):
            continue
        string = value.get("stringValue")
        if string is not None:
            attributes[key] = string
            continue
        plain = _plain(value)
        if isinstance(plain, list):
            attributes[key] = attribute_value(plain)
        elif isinstance(plain, dict):
            attributes[key] = orjson.dumps(plain).decode()
        elif plain is not None:
            attributes[key] = plain
    return attributes


def _status(span: dict[str, Any]) -> tuple[StatusCode, str]:
    status = span.get("status")
    if not isinstance(status, dict):
        return StatusCode.UNSET, ""
    code, message = status.get("code") or 0, status.get("message")
    code = _STATUS_NAMES.get(code, StatusCode.UNSET) if isinstance(code, int | str) else StatusCode.UNSET
    return code, message if isinstance(message, str) else ""


def _kind(value: Any) -> str:
    if isinstance(value, int) and 0 <= value < len(SPAN_KINDS):
        return SPAN_KINDS[value]
    return _KIND_NAMES.get(value, "INTERNAL") if isinstance(value, str) else "INTERNAL"


def _events(span: dict[str, Any]) -> tuple[EventRecord, ...]:
    events = span.get("events")
    if not events or not isinstance(events, list):
        return ()
    return tuple(
        EventRecord(
            str(event.get("name") or ""),
            _int(_get(event, "timeUnixNano", "time_unix_nano"), "event timeUnixNano"),
            _attributes(event.get("attributes")),
        )
        for event in events
        if isinstance(event, dict)
    )


def _record(span: dict[str, Any], resource: dict[str, Any], scope_name: str) -> SpanRecord:
    trace_id = _id(_get(span, "traceId", "trace_id"), 16, "trace id")
    span_id = _id(_get(span, "spanId", "span_id"), 8, "span id")
    if trace_id is None or trace_id == "0" * 32:
        raise _SpanError("invalid trace id: missing or all zero")
    if span_id is None or span_id == "0" * 16:
        raise _SpanError("invalid span id: missing or all zero")
    parent_id = _id(_get(span, "parentSpanId", "parent_span_id"), 8, "parent span id")
    name = span.get("name")
    start = _int(_get(span, "startTimeUnixNano", "start_time_unix_nano"), "startTimeUnixNano")
    end = _int(_get(span, "endTimeUnixNano", "end_time_unix_nano"), "endTimeUnixNano") or None
    reason = check_span(start, end, name) if isinstance(name, str) else "missing name"
    if reason is not None:
        raise _SpanError(reason)
    code, message = _status(span)
    return SpanRecord(
        trace_id=trace_id,
        span_id=span_id,
        parent_span_id=None if parent_id is None or parent_id == "0" * 16 else parent_id,
        name=str(name),
        start_time_ns=start,
        end_time_ns=end,
        status_code=code,
        status_message=message,
        attributes=_attributes(span.get("attributes")),
        events=_events(span),
        resource_attributes=resource,
        kind=_kind(span.get("kind")),
        scope_name=scope_name,
    )


def _rejected(index: int, span: Any, reason: str) -> RejectedSpan:
    if not isinstance(span, dict):
        return RejectedSpan(index, "", "", "", reason)
    ids = [_get(span, "traceId", "trace_id"), _get(span, "spanId", "span_id"), span.get("name")]
    trace_id, span_id, name = (value if isinstance(value, str) else "" for value in ids)
    return RejectedSpan(index, trace_id[:64], span_id[:64], name[:200], reason)


def decode_json(body: bytes) -> DecodedTraces:
    """Decode an OTLP/JSON `ExportTraceServiceRequest`.

    Args:
        body: the uncompressed request body (UTF-8 JSON).

    Returns:
        The accepted spans grouped by resource, and the refused ones with reasons.

    Raises:
        OtlpDecodeError: the body is not UTF-8 JSON or not shaped like an ExportTraceServiceRequest.
    """
    try:
        request = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        try:
            body.decode("utf-8")
        except UnicodeDecodeError as bad:
            raise OtlpDecodeError(f"request body is not valid UTF-8 (byte {bad.start})") from None
        raise OtlpDecodeError(f"request body is not valid JSON: {exc}") from None
    request = _object(request, "the request body")
    decoded = DecodedTraces()
    index = 0
    for r, resource_spans in enumerate(_list(request, "resourceSpans", "resource_spans", "")):
        where = f"resourceSpans[{r}]"
        resource_spans = _object(resource_spans, where)
        try:
            resource = _attributes(_object(resource_spans.get("resource"), f"{where}.resource").get("attributes"))
        except _SpanError as exc:
            raise OtlpDecodeError(f"{where}.resource: {exc}") from None
        group = ResourceGroup(resource)
        scopes = _list(resource_spans, "scopeSpans", "scope_spans", where)
        # Senders older than OTLP 1.0 call scopes "instrumentation libraries".
        scopes += _list(resource_spans, "instrumentationLibrarySpans", "instrumentation_library_spans", where)
        for s, scope_spans in enumerate(scopes):
            scope_where = f"{where}.scopeSpans[{s}]"
            scope_spans = _object(scope_spans, scope_where)
            scope = _get(scope_spans, "scope", "instrumentation_library") or scope_spans.get("instrumentationLibrary")
            scope_name = _object(scope, f"{scope_where}.scope").get("name")
            scope_name = scope_name if isinstance(scope_name, str) else ""
            for span in _list(scope_spans, "spans", "spans", scope_where):
                try:
                    if not isinstance(span, dict):
                        raise _SpanError(f"a span must be an object, not {type(span).__name__}")
                    group.records.append(_record(span, resource, scope_name))
                except _SpanError as exc:
                    decoded.rejected.append(_rejected(index, span, str(exc)))
                index += 1
        if group.records:
            decoded.groups.append(group)
    return decoded


def encode_json_response(rejected_spans: int, error_message: str) -> bytes:
    """Return an OTLP/JSON `ExportTraceServiceResponse`; `partialSuccess` is set only if needed."""
    if not rejected_spans and not error_message:
        return b"{}"
    # int64 fields are strings in protobuf's JSON mapping.
    partial = {"rejectedSpans": str(rejected_spans), "errorMessage": error_message}
    return orjson.dumps({"partialSuccess": partial})
