"""SpanRecords → OTLP `ExportTraceServiceRequest` protobuf bytes, and splitting an encoded request in two.

Runs on the export thread. Records are grouped into one `ResourceSpans` per distinct resource and
one `ScopeSpans` per instrumentation scope, as OTLP expects. Attribute values keep their types:
bool, int (int64; larger integers travel as strings), float, str, bytes, and lists as array values.

The request is written straight to protobuf wire format (opentelemetry-proto's `trace/v1` and
`common/v1` messages) rather than built as protobuf message objects and serialised: building a
message object per span, attribute and value cost the export thread several times more than the
bytes themselves. The output is what `SerializeToString()` of the same messages gives (fields in
number order, proto3 defaults left out); tests parse it back with the protobuf classes.
"""

from __future__ import annotations

import dataclasses
import logging
import re
import struct
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from tracelake.model import SpanRecord, StatusCode
from tracelake.version import __version__

if TYPE_CHECKING:
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
    from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans, ScopeSpans, Span

logger = logging.getLogger("tracelake")

#: Scope of spans made by tracelake's own SDK (their records carry no scope name).
SDK_SCOPE = "tracelake"

_SURROGATES = re.compile("[\ud800-\udfff]")
_INT64_MIN = -(1 << 63)
_INT64_MAX = (1 << 63) - 1
_UINT64 = 1 << 64

# OTLP enum numbers (trace/v1 Span.SpanKind, Status.StatusCode).
_KINDS = {"UNSPECIFIED": 0, "INTERNAL": 1, "SERVER": 2, "CLIENT": 3, "PRODUCER": 4, "CONSUMER": 5}
_INTERNAL = 1
_STATUS = {StatusCode.UNSET: 0, StatusCode.OK: 1, StatusCode.ERROR: 2}
_UNSET, _OK = StatusCode.UNSET, StatusCode.OK

# Field tags: (field number << 3) | wire type (0 varint, 1 fixed64, 2 length-delimited).
_REQUEST_RESOURCE_SPANS = b"\x0a"  # ExportTraceServiceRequest.resource_spans = 1
_RESOURCE = b"\x0a"  # ResourceSpans.resource = 1
_SCOPE_SPANS = b"\x12"  # ResourceSpans.scope_spans = 2
_RESOURCE_ATTRIBUTES = b"\x0a"  # Resource.attributes = 1
_SCOPE = b"\x0a"  # ScopeSpans.scope = 1
_SPANS = b"\x12"  # ScopeSpans.spans = 2
_SCOPE_NAME = b"\x0a"  # InstrumentationScope.name = 1
_SCOPE_VERSION = b"\x12"  # InstrumentationScope.version = 2
_TRACE_ID = b"\x0a\x10"  # Span.trace_id = 1, always 16 bytes
_SPAN_ID = b"\x12\x08"  # Span.span_id = 2, always 8 bytes
_PARENT_ID = b"\x22\x08"  # Span.parent_span_id = 4, always 8 bytes
_NAME = b"\x2a"  # Span.name = 5
_KIND = b"\x30"  # Span.kind = 6
_START = b"\x39"  # Span.start_time_unix_nano = 7 (fixed64)
_END = b"\x41"  # Span.end_time_unix_nano = 8 (fixed64)
_ATTRIBUTE = b"\x4a"  # Span.attributes = 9
_EVENT = b"\x5a"  # Span.events = 11
_STATUS_FIELD = b"\x7a"  # Span.status = 15
_STATUS_MESSAGE = b"\x12"  # Status.message = 2
_STATUS_CODE = b"\x18"  # Status.code = 3
_EVENT_TIME = b"\x09"  # Event.time_unix_nano = 1 (fixed64)
_EVENT_NAME = b"\x12"  # Event.name = 2
_EVENT_ATTRIBUTE = b"\x1a"  # Event.attributes = 3
_KV_KEY = b"\x0a"  # KeyValue.key = 1
_KV_VALUE = b"\x12"  # KeyValue.value = 2
_STRING_VALUE = b"\x0a"  # AnyValue.string_value = 1
_BOOL_TRUE = b"\x10\x01"  # AnyValue.bool_value = 2
_BOOL_FALSE = b"\x10\x00"
_INT_VALUE = b"\x18"  # AnyValue.int_value = 3
_DOUBLE_VALUE = b"\x21"  # AnyValue.double_value = 4 (fixed64)
_ARRAY_VALUE = b"\x2a"  # AnyValue.array_value = 5
_KVLIST_VALUE = b"\x32"  # AnyValue.kvlist_value = 6
_BYTES_VALUE = b"\x3a"  # AnyValue.bytes_value = 7
_LIST_ITEM = b"\x0a"  # ArrayValue.values = 1, KeyValueList.values = 1

_fixed64 = struct.Struct("<Q").pack
_double = struct.Struct("<d").pack
# Lengths below 128 are one byte: precomputed, they are nearly every length on the wire.
_SMALL_VARINTS = [bytes((n,)) for n in range(128)]

# Errors that make one record impossible to encode (bad ids, times, status); the record is left out.
_INVALID = (ValueError, TypeError, KeyError, OverflowError, struct.error)


@dataclass(frozen=True)
class EncodedBatch:
    """A serialized `ExportTraceServiceRequest` and how many spans went in or were left out."""

    body: bytes
    spans: int
    invalid: int = 0
    """Records that could not be encoded (e.g. ids that are not hex); they are not in `body`."""


# Wire primitives ----------------------------------------------------------------------------------
def _varint(value: int) -> bytes:
    if 0 <= value < 128:
        return _SMALL_VARINTS[value]
    if 0 < value < 16384:
        return bytes(((value & 0x7F) | 0x80, value >> 7))
    if value < 0:  # int64 on the wire: two's complement, ten bytes
        value += _UINT64
    out = bytearray()
    while value >= 128:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def _field(tag: bytes, payload: bytes) -> bytes:
    """A length-delimited field: tag, length, payload."""
    size = len(payload)
    return tag + (_SMALL_VARINTS[size] if size < 128 else _varint(size)) + payload


def _text(tag: bytes, value: str) -> bytes:
    # UnicodeEncodeError on lone surrogates: the caller repairs the record and tries again.
    return _field(tag, value.encode())


# Attribute keys recur on every span: their encoded `KeyValue.key` field is kept, up to a bound.
_KEYS: dict[str, bytes] = {}
_KEYS_MAX = 4096


def _key(key: str) -> bytes:
    encoded = _KEYS.get(key)
    if encoded is None:
        encoded = _text(_KV_KEY, key) if key else b""  # proto3 leaves an empty string out
        if len(_KEYS) >= _KEYS_MAX:
            _KEYS.clear()
        _KEYS[key] = encoded
    return encoded


def _any_value(value: Any) -> bytes:
    """The body of an OTLP `AnyValue` for an attribute value, keeping its type."""
    kind = type(value)
    # The exact built-in types first (nearly every value), then their subclasses (enums…).
    if kind is str:
        return _text(_STRING_VALUE, value)
    if kind is bool:  # before int: True is an int in Python, but a bool on the wire
        return _BOOL_TRUE if value else _BOOL_FALSE
    if kind is int:
        return _int(value)
    if kind is float:
        return _DOUBLE_VALUE + _double(value)
    if isinstance(value, str):
        return _text(_STRING_VALUE, value)
    if isinstance(value, int):
        return _int(int(value))
    if isinstance(value, float):
        return _DOUBLE_VALUE + _double(value)
    if isinstance(value, (bytes, bytearray, memoryview)):
        return _field(_BYTES_VALUE, bytes(value))
    if isinstance(value, (list, tuple)):
        return _field(_ARRAY_VALUE, b"".join([_field(_LIST_ITEM, _any_value(item)) for item in value]))
    if isinstance(value, Mapping):
        return _field(_KVLIST_VALUE, b"".join(_key_values(_LIST_ITEM, value)))
    if value is None:
        return b""
    return _text(_STRING_VALUE, _safe_str(value))


def _int(value: int) -> bytes:
    if _INT64_MIN <= value <= _INT64_MAX:
        return _INT_VALUE + _varint(value)
    return _text(_STRING_VALUE, str(value))  # beyond int64: kept exactly, as text


def _key_values(tag: bytes, attributes: Mapping[Any, Any]) -> list[bytes]:
    """`KeyValue` fields for an attribute mapping (None values are left out, as OTel does)."""
    fields = []
    for key, value in attributes.items():
        if value is None:
            continue
        name = _KEYS.get(key) if type(key) is str else None
        if name is None:
            name = _key(key if type(key) is str else str(key))
        # Strings are nearly every value (inputs, outputs, span type): encoded here, not in _any_value.
        encoded = _text(_STRING_VALUE, value) if type(value) is str else _any_value(value)
        size = len(encoded)
        body = name + _KV_VALUE + (_SMALL_VARINTS[size] if size < 128 else _varint(size)) + encoded
        size = len(body)
        fields.append(tag + (_SMALL_VARINTS[size] if size < 128 else _varint(size)) + body)
    return fields


def _safe_str(value: Any) -> str:
    try:
        return str(value)
    except Exception:
        return f"<{type(value).__qualname__} object>"


def _id_bytes(hex_id: str, size: int) -> bytes:
    raw = bytes.fromhex(hex_id)
    if len(raw) != size or raw == _ZERO_IDS[size]:
        raise ValueError(f"invalid id {hex_id!r}: expected {size * 2} hex digits, not all zero")
    return raw


_ZERO_IDS = {8: bytes(8), 16: bytes(16)}


# Messages -----------------------------------------------------------------------------------------
def _span(record: SpanRecord) -> bytes:
    """The body of an OTLP `Span`, fields in number order."""
    parent = record.parent_span_id
    parts = [_TRACE_ID + _id_bytes(record.trace_id, 16), _SPAN_ID + _id_bytes(record.span_id, 8)]
    if parent:
        parts.append(_PARENT_ID + _id_bytes(parent, 8))
    if record.name:
        parts.append(_text(_NAME, record.name))
    kind = _KINDS.get(record.kind)
    if kind is None:
        kind = _KINDS.get(record.kind.upper(), _INTERNAL)
    if kind:
        parts.append(_KIND + _SMALL_VARINTS[kind])
    if record.start_time_ns:
        parts.append(_START + _fixed64(record.start_time_ns))
    if record.end_time_ns:
        parts.append(_END + _fixed64(record.end_time_ns))
    if record.attributes:
        parts += _key_values(_ATTRIBUTE, record.attributes)
    for event in record.events:
        parts.append(_field(_EVENT, _event(event.timestamp_ns, event.name, event.attributes)))
    # The status is always present (an empty message when UNSET without a message).
    status_code = record.status_code
    # Compared by identity: looking an enum member up in a dict calls its Python-level __hash__.
    code = 0 if status_code is _UNSET else 1 if status_code is _OK else _STATUS[status_code]
    status = _text(_STATUS_MESSAGE, record.status_message) if record.status_message else b""
    if code:
        status += _STATUS_CODE + _SMALL_VARINTS[code]
    parts.append(_field(_STATUS_FIELD, status))
    return b"".join(parts)


def _event(timestamp_ns: int, name: str, attributes: Mapping[str, Any]) -> bytes:
    parts = [_EVENT_TIME + _fixed64(timestamp_ns)] if timestamp_ns else []
    if name:
        parts.append(_text(_EVENT_NAME, name))
    if attributes:
        parts += _key_values(_EVENT_ATTRIBUTE, attributes)
    return b"".join(parts)


def _scope(name: str) -> bytes:
    body = _text(_SCOPE_NAME, name) if name else b""
    if name == SDK_SCOPE:
        body += _text(_SCOPE_VERSION, __version__)
    return body


def _clean(value: Any) -> Any:
    if isinstance(value, str):
        return _SURROGATES.sub("\ufffd", value)
    if isinstance(value, (list, tuple)):
        return [_clean(item) for item in value]
    if isinstance(value, Mapping):
        return {_clean(k): _clean(v) for k, v in value.items()}
    return value


def _scrub(record: SpanRecord) -> SpanRecord:
    return dataclasses.replace(
        record,
        name=_clean(record.name),
        status_message=_clean(record.status_message),
        attributes=_clean(record.attributes),
        events=tuple(
            dataclasses.replace(event, name=_clean(event.name), attributes=_clean(event.attributes))
            for event in record.events
        ),
        resource_attributes=_clean(record.resource_attributes),
        scope_name=_clean(record.scope_name),
    )


def _freeze(value: Any) -> Any:
    if isinstance(value, (list, tuple)):
        return tuple(_freeze(item) for item in value)
    if isinstance(value, Mapping):
        return tuple(sorted((str(k), _freeze(v)) for k, v in value.items()))
    return value


class _Resource:
    """One `ResourceSpans` being assembled: its encoded resource, and its scopes' encoded spans."""

    __slots__ = ("resource", "scopes")

    def __init__(self, resource: bytes) -> None:
        self.resource = resource
        self.scopes: dict[str, tuple[bytes, list[bytes]]] = {}

    def spans_of(self, scope_name: str) -> list[bytes]:
        """The spans of a scope, the scope encoded when first seen (it may raise UnicodeError)."""
        scope = self.scopes.get(scope_name)
        if scope is None:
            scope = self.scopes[scope_name] = (_field(_SCOPE, _scope(scope_name)), [])
        return scope[1]

    def encode(self) -> bytes:
        parts = [_field(_RESOURCE, self.resource)]
        for scope, spans in self.scopes.values():
            parts.append(_field(_SCOPE_SPANS, scope + b"".join([_field(_SPANS, span) for span in spans])))
        return b"".join(parts)


def encode_records(records: Sequence[SpanRecord], extra_resource: Mapping[str, Any] | None = None) -> EncodedBatch:
    """Serialize `records` as one OTLP/protobuf `ExportTraceServiceRequest`.

    Records that cannot be encoded (ids that are not hex, times out of range) are left out and
    counted in `invalid`; strings with lone surrogates are sent with those characters replaced.

    Args:
        records: spans to send.
        extra_resource: attributes added to every resource (e.g. the target experiment).
    """
    resources: dict[Any, _Resource] = {}
    # Consecutive records nearly always share their resource (an equal dict): compare, not freeze.
    last_attributes: Any = None
    last_resource: _Resource | None = None

    def resource_of(attributes: dict[str, Any]) -> _Resource:
        nonlocal last_attributes, last_resource
        if last_resource is not None and attributes == last_attributes:
            return last_resource
        key = _freeze(attributes)
        resource = resources.get(key)
        if resource is None:
            merged = dict(attributes)
            if extra_resource:
                merged.update(extra_resource)
            resource = _Resource(b"".join(_key_values(_RESOURCE_ATTRIBUTES, merged)))
            resources[key] = resource
        last_attributes, last_resource = attributes, resource
        return resource

    encoded = invalid = 0
    for record in records:
        try:
            try:
                span = _span(record)
                spans = resource_of(record.resource_attributes).spans_of(record.scope_name or SDK_SCOPE)
            except UnicodeError:
                # Lone surrogates (from bytes decoded with surrogateescape) cannot be UTF-8 on the
                # wire: send the span with those characters replaced rather than lose it.
                record = _scrub(record)
                span = _span(record)
                spans = resource_of(record.resource_attributes).spans_of(record.scope_name or SDK_SCOPE)
        except _INVALID:
            invalid += 1
            logger.debug("tracelake: span %r cannot be encoded for OTLP", record.name, exc_info=True)
            continue
        spans.append(span)
        encoded += 1
    body = b"".join([_field(_REQUEST_RESOURCE_SPANS, resource.encode()) for resource in resources.values()])
    return EncodedBatch(body, encoded, invalid)


def encode_request(
    records: Iterable[SpanRecord], extra_resource: Mapping[str, Any] | None = None
) -> tuple[ExportTraceServiceRequest, int, int]:
    """Like `encode_records`, as a parsed protobuf message: (request, spans encoded, records left out)."""
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

    batch = encode_records(list(records), extra_resource)
    request = ExportTraceServiceRequest()
    request.ParseFromString(batch.body)
    return request, batch.spans, batch.invalid


def count_spans(request: ExportTraceServiceRequest) -> int:
    """Return the number of spans in a request."""
    return sum(len(scope.spans) for resource in request.resource_spans for scope in resource.scope_spans)


def split_body(body: bytes) -> tuple[EncodedBatch, EncodedBatch]:
    """Split a serialized request into two with half the spans each (for a server that answered 413).

    Resources and scopes are copied into whichever half holds their spans.

    Raises:
        ValueError: the request holds fewer than two spans, or is not a valid request.
    """
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

    request = ExportTraceServiceRequest()
    try:
        request.ParseFromString(body)
    except Exception as exc:  # protobuf raises its own DecodeError
        raise ValueError(f"not an OTLP trace request: {exc}") from None
    total = count_spans(request)
    if total < 2:
        raise ValueError("a request with fewer than two spans cannot be split")
    first, second = ExportTraceServiceRequest(), ExportTraceServiceRequest()
    remaining = total // 2
    for resource_spans in request.resource_spans:
        for scope_spans in resource_spans.scope_spans:
            spans = list(scope_spans.spans)
            head, tail = spans[:remaining], spans[remaining:]
            remaining -= len(head)
            for target, part in ((first, head), (second, tail)):
                if part:
                    _append(target, resource_spans, scope_spans, part)
    return (
        EncodedBatch(first.SerializeToString(), total // 2),
        EncodedBatch(second.SerializeToString(), total - total // 2),
    )


def _append(
    target: ExportTraceServiceRequest, resource_spans: ResourceSpans, scope_spans: ScopeSpans, spans: list[Span]
) -> None:
    # Consecutive parts of one resource share a ResourceSpans, so a split never duplicates it needlessly.
    if target.resource_spans and target.resource_spans[-1].resource == resource_spans.resource:
        out_resource = target.resource_spans[-1]
    else:
        out_resource = target.resource_spans.add()
        out_resource.resource.CopyFrom(resource_spans.resource)
        out_resource.schema_url = resource_spans.schema_url
    out_scope = out_resource.scope_spans.add()
    out_scope.scope.CopyFrom(scope_spans.scope)
    out_scope.schema_url = scope_spans.schema_url
    out_scope.spans.extend(spans)
