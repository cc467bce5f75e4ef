"""SpanRecords → OTLP `ExportTraceServiceRequest` protobuf, and splitting an encoded request in two.

Runs on the export thread. Records are grouped into one `ResourceSpans` per distinct resource and
one `ScopeSpans` per instrumentation scope, as OTLP expects. Attribute values keep their types:
bool, int (int64; larger integers travel as strings), float, str, bytes, and lists as array values.
"""

from __future__ import annotations

import dataclasses
import logging
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import (
    AnyValue,
    ArrayValue,
    InstrumentationScope,
    KeyValue,
    KeyValueList,
)
from opentelemetry.proto.resource.v1.resource_pb2 import Resource
from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans, ScopeSpans, Span, Status

from tracelake.model import SpanRecord, StatusCode
from tracelake.version import __version__

logger = logging.getLogger("tracelake")

#: Scope of spans made by tracelake's own SDK (their records carry no scope name).
SDK_SCOPE = "tracelake"

_SURROGATES = re.compile("[\ud800-\udfff]")
_INT64_MIN = -(1 << 63)
_INT64_MAX = (1 << 63) - 1

_KINDS = {
    "UNSPECIFIED": Span.SpanKind.SPAN_KIND_UNSPECIFIED,
    "INTERNAL": Span.SpanKind.SPAN_KIND_INTERNAL,
    "SERVER": Span.SpanKind.SPAN_KIND_SERVER,
    "CLIENT": Span.SpanKind.SPAN_KIND_CLIENT,
    "PRODUCER": Span.SpanKind.SPAN_KIND_PRODUCER,
    "CONSUMER": Span.SpanKind.SPAN_KIND_CONSUMER,
}
_STATUS = {
    StatusCode.UNSET: Status.StatusCode.STATUS_CODE_UNSET,
    StatusCode.OK: Status.StatusCode.STATUS_CODE_OK,
    StatusCode.ERROR: Status.StatusCode.STATUS_CODE_ERROR,
}


@dataclass(frozen=True)
class EncodedBatch:
    """A serialized `ExportTraceServiceRequest` and how many spans went in or were left out."""

    body: bytes
    spans: int
    invalid: int = 0
    """Records that could not be encoded (e.g. ids that are not hex); they are not in `body`."""


def any_value(value: Any) -> AnyValue:
    """Return the OTLP `AnyValue` of an attribute value, keeping its type."""
    # bool before int: True is an int in Python, but a bool on the wire.
    if isinstance(value, bool):
        return AnyValue(bool_value=value)
    if isinstance(value, int):
        if _INT64_MIN <= value <= _INT64_MAX:
            return AnyValue(int_value=value)
        return AnyValue(string_value=str(value))
    if isinstance(value, float):
        return AnyValue(double_value=value)
    if isinstance(value, str):
        return AnyValue(string_value=value)
    if isinstance(value, (bytes, bytearray, memoryview)):
        return AnyValue(bytes_value=bytes(value))
    if isinstance(value, (list, tuple)):
        return AnyValue(array_value=ArrayValue(values=[any_value(item) for item in value]))
    if isinstance(value, Mapping):
        return AnyValue(kvlist_value=KeyValueList(values=key_values(value)))
    if value is None:
        return AnyValue()
    return AnyValue(string_value=_safe_str(value))


def key_values(attributes: Mapping[Any, Any]) -> list[KeyValue]:
    """Return OTLP `KeyValue`s for an attribute mapping (None values are left out, as OTel does)."""
    return [KeyValue(key=str(key), value=any_value(value)) for key, value in attributes.items() if value is not None]


def _safe_str(value: Any) -> str:
    try:
        return str(value)
    except Exception:
        return f"<{type(value).__qualname__} object>"


def _span(record: SpanRecord) -> Span:
    parent = record.parent_span_id
    span = Span(
        trace_id=_id_bytes(record.trace_id, 16),
        span_id=_id_bytes(record.span_id, 8),
        parent_span_id=_id_bytes(parent, 8) if parent else b"",
        name=record.name,
        kind=_KINDS.get(record.kind.upper(), Span.SpanKind.SPAN_KIND_INTERNAL),
        start_time_unix_nano=record.start_time_ns,
        end_time_unix_nano=record.end_time_ns or 0,
        attributes=key_values(record.attributes),
        status=Status(code=_STATUS[record.status_code], message=record.status_message),
    )
    if record.events:
        span.events.extend(
            Span.Event(time_unix_nano=event.timestamp_ns, name=event.name, attributes=key_values(event.attributes))
            for event in record.events
        )
    return span


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


def _id_bytes(hex_id: str, size: int) -> bytes:
    raw = bytes.fromhex(hex_id)
    if len(raw) != size or raw == bytes(size):
        raise ValueError(f"invalid id {hex_id!r}: expected {size * 2} hex digits, not all zero")
    return raw


def _freeze(value: Any) -> Any:
    if isinstance(value, (list, tuple)):
        return tuple(_freeze(item) for item in value)
    if isinstance(value, Mapping):
        return tuple(sorted((str(k), _freeze(v)) for k, v in value.items()))
    return value


def encode_request(
    records: Iterable[SpanRecord], extra_resource: Mapping[str, Any] | None = None
) -> tuple[ExportTraceServiceRequest, int, int]:
    """Build the request for `records`; returns (request, spans encoded, records left out as invalid).

    Args:
        records: spans to send.
        extra_resource: attributes added to every resource (e.g. the target experiment).
    """
    request = ExportTraceServiceRequest()
    scopes: dict[tuple[Any, str], ScopeSpans] = {}
    resources: dict[Any, ResourceSpans] = {}

    def scope_of(record: SpanRecord) -> ScopeSpans:
        resource_key = _freeze(record.resource_attributes)
        scope_name = record.scope_name or SDK_SCOPE
        scope_spans = scopes.get((resource_key, scope_name))
        if scope_spans is None:
            resource_spans = resources.get(resource_key)
            if resource_spans is None:
                attributes = dict(record.resource_attributes)
                if extra_resource:
                    attributes.update(extra_resource)
                resource_spans = request.resource_spans.add(resource=Resource(attributes=key_values(attributes)))
                resources[resource_key] = resource_spans
            version = __version__ if scope_name == SDK_SCOPE else ""
            scope_spans = resource_spans.scope_spans.add(scope=InstrumentationScope(name=scope_name, version=version))
            scopes[(resource_key, scope_name)] = scope_spans
        return scope_spans

    encoded = invalid = 0
    for record in records:
        try:
            try:
                span, scope_spans = _span(record), scope_of(record)
            except UnicodeError:
                # Lone surrogates (from bytes decoded with surrogateescape) cannot be UTF-8 on the
                # wire: send the span with those characters replaced rather than lose it.
                record = _scrub(record)
                span, scope_spans = _span(record), scope_of(record)
        except (ValueError, TypeError, KeyError):
            invalid += 1
            logger.debug("tracelake: span %r cannot be encoded for OTLP", record.name, exc_info=True)
            continue
        scope_spans.spans.append(span)
        encoded += 1
    return request, encoded, invalid


def encode_records(records: Sequence[SpanRecord], extra_resource: Mapping[str, Any] | None = None) -> EncodedBatch:
    """Serialize `records` as one OTLP/protobuf `ExportTraceServiceRequest`."""
    request, encoded, invalid = encode_request(records, extra_resource)
    return EncodedBatch(request.SerializeToString(), encoded, invalid)


def count_spans(request: ExportTraceServiceRequest) -> int:
    """Return the number of spans in a request."""
    return sum(len(scope.spans) for resource in request.resource_spans for scope in resource.scope_spans)


def split_body(body: bytes) -> tuple[EncodedBatch, EncodedBatch]:
    """Split a serialized request into two with half the spans each (for a server that answered 413).

    Resources and scopes are copied into whichever half holds their spans.

    Raises:
        ValueError: the request holds fewer than two spans, or is not a valid request.
    """
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
