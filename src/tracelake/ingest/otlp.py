"""OTLP/HTTP trace requests → SpanRecords: the server's door for any OpenTelemetry sender.

`decode_protobuf` and `decode_json` (in `tracelake.ingest.otlp_json`) turn an
`ExportTraceServiceRequest` into records grouped by resource, plus the spans that were refused and
why. A span is refused, not the request, when it cannot be stored (an invalid or all-zero trace or
span id, no name, no start time, an end before its start); the sender learns of it through the
response's `partial_success`. A body that cannot be read at all raises `OtlpDecodeError`.

Attribute values keep OpenTelemetry's shapes: scalars and homogeneous lists of scalars as they are,
bytes as base64, and nested values (lists of mixed or nested values, key-value lists) as JSON strings.

This runs on a server worker for every request, so the loops below favour local lookups and the
common string-valued attribute over generality.
"""

from __future__ import annotations

import base64
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

import orjson
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue

from tracelake.exceptions import TracelakeError
from tracelake.model import EventRecord, SpanRecord, StatusCode

__all__ = [
    "MAX_TIME_NS",
    "DecodedTraces",
    "OtlpDecodeError",
    "RejectedSpan",
    "ResourceGroup",
    "SPAN_KINDS",
    "attribute_value",
    "check_span",
    "decode_protobuf",
    "diagnose_protobuf",
    "encode_protobuf_response",
    "rejection_message",
]


class OtlpDecodeError(TracelakeError):
    """The body is not a readable OTLP trace request; the message says what is wrong and where."""


@dataclass(frozen=True, slots=True)
class RejectedSpan:
    """A span that was refused, with enough of it to find it in the sender's data.

    Attributes:
        index: position of the span in the request (counting every span, from 0).
        trace_id: the trace id as sent (hex), or "" if unreadable.
        span_id: the span id as sent (hex), or "" if unreadable.
        name: the span name as sent.
        reason: what is wrong with it.
    """

    index: int
    trace_id: str
    span_id: str
    name: str
    reason: str


@dataclass(slots=True)
class ResourceGroup:
    """The accepted spans of one `ResourceSpans`: the resource's attributes and its records.

    Every record's `resource_attributes` is this same `resource` dict.
    """

    resource: dict[str, Any]
    records: list[SpanRecord] = field(default_factory=list)


@dataclass(slots=True)
class DecodedTraces:
    """What a request carried: accepted spans grouped by resource, and the refused ones."""

    groups: list[ResourceGroup] = field(default_factory=list)
    rejected: list[RejectedSpan] = field(default_factory=list)

    @property
    def records(self) -> list[SpanRecord]:
        """Every accepted span, in request order."""
        return [record for group in self.groups for record in group.records]

    @property
    def accepted_count(self) -> int:
        return sum(len(group.records) for group in self.groups)


#: OTLP `Span.SpanKind` numbers → the names tracelake records (UNSPECIFIED is read as INTERNAL, as
#: the OTLP specification allows).
SPAN_KINDS: Final = ("INTERNAL", "INTERNAL", "SERVER", "CLIENT", "PRODUCER", "CONSUMER")
_KINDS: Final = dict(enumerate(SPAN_KINDS))
_STATUSES: Final = {0: StatusCode.UNSET, 1: StatusCode.OK, 2: StatusCode.ERROR}
_ZERO_TRACE: Final = bytes(16)
_ZERO_SPAN: Final = bytes(8)
_SCALARS: Final = (str, bool, int, float)


#: The index stores times as signed 64-bit nanoseconds (SQLite INTEGER, PostgreSQL BIGINT): up to
#: the year 2262. OTLP's fixed64, and OTLP/JSON's decimal strings, can say more.
MAX_TIME_NS: Final = 2**63 - 1


def check_span(start_ns: int, end_ns: int | None, name: str) -> str | None:
    """Return why a span with these fields cannot be stored, or None if it can."""
    if not name:
        return "missing name"
    if start_ns <= 0:
        return "missing start time (startTimeUnixNano)"
    if end_ns is not None and end_ns < start_ns:
        return "end time is before start time"
    if start_ns > MAX_TIME_NS or (end_ns is not None and end_ns > MAX_TIME_NS):
        return "time is beyond the year 2262 (more than 2**63 - 1 ns since the epoch)"
    return None


# AnyValue ----------------------------------------------------------------------------------------


def _plain(value: AnyValue) -> Any:
    """Return an AnyValue as a JSON-compatible Python value (for nesting inside a JSON string)."""
    kind = value.WhichOneof("value")
    if kind == "array_value":
        return [_plain(item) for item in value.array_value.values]
    if kind == "kvlist_value":
        return {kv.key: _plain(kv.value) for kv in value.kvlist_value.values}
    if kind == "bytes_value":
        return base64.b64encode(value.bytes_value).decode()
    if kind is None or kind == "string_value_strindex":
        return None
    return getattr(value, kind)


def attribute_value(items: Sequence[Any]) -> Any:
    """Return a list of plain values as an attribute value: the list if homogeneous scalars, else JSON."""
    if items:
        first = type(items[0])
        if first in _SCALARS and all(type(item) is first for item in items):
            return items
        return orjson.dumps(items).decode()
    return []


def _value(value: AnyValue, kind: str) -> Any:
    if kind == "array_value":
        return attribute_value([_plain(item) for item in value.array_value.values])
    if kind == "kvlist_value":
        return orjson.dumps({kv.key: _plain(kv.value) for kv in value.kvlist_value.values}).decode()
    if kind == "bytes_value":
        return base64.b64encode(value.bytes_value).decode()
    return getattr(value, kind)


def _attributes(pairs: Iterable[KeyValue]) -> dict[str, Any]:
    attributes: dict[str, Any] = {}
    for pair in pairs:
        value = pair.value
        # Most values are non-empty strings: reading the field is cheaper than asking for the oneof.
        text = value.string_value
        if text:
            attributes[pair.key] = text
            continue
        kind = value.WhichOneof("value")
        if kind == "string_value":
            attributes[pair.key] = text
        elif kind is not None and kind != "string_value_strindex":
            attributes[pair.key] = _value(value, kind)
    return attributes


# Requests ----------------------------------------------------------------------------------------


def decode_protobuf(body: bytes) -> DecodedTraces:
    """Decode a protobuf `ExportTraceServiceRequest`.

    Args:
        body: the uncompressed request body.

    Returns:
        The accepted spans grouped by resource, and the refused ones with reasons.

    Raises:
        OtlpDecodeError: the body is not a valid protobuf message of that type.
    """
    request = ExportTraceServiceRequest()
    try:
        request.ParseFromString(body)
    except Exception as exc:  # protobuf's DecodeError (or RuntimeError from the upb backend)
        problem = diagnose_protobuf(body, ExportTraceServiceRequest.DESCRIPTOR)
        raise OtlpDecodeError(f"malformed protobuf ExportTraceServiceRequest: {problem or exc}") from None
    decoded = DecodedTraces()
    rejected = decoded.rejected
    index = 0
    kinds, statuses, unset = _KINDS, _STATUSES, StatusCode.UNSET
    # Ids as hex, by their bytes: a trace's spans share its id, and parents are earlier spans. Only
    # valid ids are kept, one map per size, so a hit needs no further check.
    trace_hexes: dict[bytes, str] = {}
    span_hexes: dict[bytes, str] = {}
    for resource_spans in request.resource_spans:
        resource = _attributes(resource_spans.resource.attributes)
        group = ResourceGroup(resource)
        append = group.records.append
        for scope_spans in resource_spans.scope_spans:
            scope_name = scope_spans.scope.name
            for span in scope_spans.spans:
                trace_id, span_id, parent_id = span.trace_id, span.span_id, span.parent_span_id
                start, end, name = span.start_time_unix_nano, span.end_time_unix_nano or None, span.name
                trace_hex = trace_hexes.get(trace_id, "")
                if not trace_hex and len(trace_id) == 16 and trace_id != _ZERO_TRACE:
                    trace_hex = trace_hexes[trace_id] = trace_id.hex()
                reason: str | None
                if not trace_hex:
                    reason = "invalid trace id: must be 16 bytes, not all zero"
                elif len(span_id) != 8 or span_id == _ZERO_SPAN:
                    reason = "invalid span id: must be 8 bytes, not all zero"
                elif parent_id and len(parent_id) != 8:
                    reason = "invalid parent span id: must be 8 bytes or empty"
                else:
                    reason = check_span(start, end, name)
                if reason is not None:
                    rejected.append(RejectedSpan(index, trace_id.hex(), span_id.hex(), name, reason))
                    index += 1
                    continue
                span_hex = span_hexes[span_id] = span_id.hex()
                parent_hex = None
                if parent_id and parent_id != _ZERO_SPAN:
                    parent_hex = span_hexes.get(parent_id)
                    if parent_hex is None:
                        parent_hex = span_hexes[parent_id] = parent_id.hex()
                status = span.status
                events = span.events
                # Positional: keywords make the call twice as costly. The order is SpanRecord's fields'.
                append(
                    SpanRecord(
                        trace_hex,
                        span_hex,
                        parent_hex,
                        name,
                        start,
                        end,
                        statuses.get(status.code, unset),
                        status.message,
                        _attributes(span.attributes),
                        tuple(
                            EventRecord(event.name, event.time_unix_nano, _attributes(event.attributes))
                            for event in events
                        )
                        if events
                        else (),
                        resource,
                        kinds.get(span.kind, "INTERNAL"),
                        scope_name,
                    )
                )
                index += 1
        if group.records:
            decoded.groups.append(group)
    return decoded


def encode_protobuf_response(rejected_spans: int, error_message: str) -> bytes:
    """Return a protobuf `ExportTraceServiceResponse`; `partial_success` is set only if needed."""
    response = ExportTraceServiceResponse()
    if rejected_spans or error_message:
        response.partial_success.rejected_spans = rejected_spans
        response.partial_success.error_message = error_message
    return bytes(response.SerializeToString())


def rejection_message(rejected: Sequence[RejectedSpan], total: int, shown: int = 5) -> str:
    """Summarise refused spans for `partial_success.error_message`: the count and the first reasons."""
    if not rejected:
        return ""
    details = "; ".join(
        f"span #{span.index} ({span.name or 'unnamed'!r}, trace {span.trace_id or '?'}, span {span.span_id or '?'}):"
        f" {span.reason}"
        for span in rejected[:shown]
    )
    more = f"; and {len(rejected) - shown} more" if len(rejected) > shown else ""
    return f"rejected {len(rejected)} of {total} spans: {details}{more}"


# Diagnosis of malformed bodies ---------------------------------------------------------------------
#
# upb reports every failure as "Error parsing message"; walking the wire format against the message
# descriptors (only on this error path) finds the field and byte that are wrong.


class _Malformed(Exception):
    pass


def _varint(data: bytes, pos: int, base: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        if pos >= len(data):
            raise _Malformed(f"truncated varint at byte {base + pos}")
        byte = data[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return result, pos
        shift += 7
        if shift >= 70:
            raise _Malformed(f"varint longer than 10 bytes at byte {base + pos}")


def _walk(data: bytes, descriptor: Any, path: str, base: int, depth: int) -> None:
    if depth > 64:
        raise _Malformed(f"{path}: nested too deeply")
    counts: dict[int, int] = {}
    pos = 0
    while pos < len(data):
        start = pos
        tag, pos = _varint(data, pos, base)
        number, wire_type = tag >> 3, tag & 7
        if number == 0:
            raise _Malformed(f"{path}: invalid field number 0 at byte {base + start}")
        fd = descriptor.fields_by_number.get(number)
        where = path if fd is None else f"{path}.{fd.name}"
        # `is_repeated` in protobuf 6+, where `label` is gone; `label` before.
        if fd is not None and (fd.is_repeated if hasattr(fd, "is_repeated") else fd.label == fd.LABEL_REPEATED):
            counts[number] = counts.get(number, -1) + 1
            where = f"{where}[{counts[number]}]"
        if wire_type == 0:
            _, pos = _varint(data, pos, base)
        elif wire_type in (1, 5):
            pos += 8 if wire_type == 1 else 4
        elif wire_type == 2:
            length, pos = _varint(data, pos, base)
            end = pos + length
            if end > len(data):
                raise _Malformed(f"{where}: length {length} at byte {base + pos} runs past the end of the data")
            chunk = data[pos:end]
            if fd is not None and fd.type == fd.TYPE_STRING:
                try:
                    chunk.decode("utf-8")
                except UnicodeDecodeError as exc:
                    raise _Malformed(f"{where}: invalid UTF-8 at byte {base + pos + exc.start}") from None
            elif fd is not None and fd.type == fd.TYPE_MESSAGE:
                _walk(chunk, fd.message_type, where, base + pos, depth + 1)
            pos = end
        else:
            raise _Malformed(f"{where}: unsupported wire type {wire_type} at byte {base + start}")
        if pos > len(data):
            raise _Malformed(f"{where}: truncated at byte {base + len(data)}")


def diagnose_protobuf(body: bytes, descriptor: Any) -> str | None:
    """Return what makes `body` an invalid message (field path and byte), if it can tell.

    Args:
        body: the bytes that failed to parse.
        descriptor: the protobuf `Descriptor` of the expected message type.
    """
    try:
        _walk(body, descriptor, descriptor.name, 0, 0)
    except _Malformed as exc:
        return str(exc)
    return None
