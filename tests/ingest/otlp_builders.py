"""Builders of OTLP protobuf messages for the OTLP decoding tests."""

from __future__ import annotations

from typing import Any

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, ArrayValue, InstrumentationScope, KeyValue, KeyValueList
from opentelemetry.proto.resource.v1.resource_pb2 import Resource
from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans, ScopeSpans, Span, Status

TRACE = bytes.fromhex("0af7651916cd43dd8448eb211c80319c")
ROOT = bytes.fromhex("b7ad6b7169203331")
CHILD = bytes.fromhex("00f067aa0ba902b7")
T0 = 1_750_000_000_000_000_000


def any_value(value: Any) -> AnyValue:
    if isinstance(value, AnyValue):
        return value
    if isinstance(value, bool):
        return AnyValue(bool_value=value)
    if isinstance(value, int):
        return AnyValue(int_value=value)
    if isinstance(value, float):
        return AnyValue(double_value=value)
    if isinstance(value, bytes):
        return AnyValue(bytes_value=value)
    if isinstance(value, list):
        return AnyValue(array_value=ArrayValue(values=[any_value(item) for item in value]))
    if isinstance(value, dict):
        return AnyValue(kvlist_value=KeyValueList(values=key_values(value)))
    return AnyValue(string_value=str(value))


def key_values(attributes: dict[str, Any]) -> list[KeyValue]:
    return [KeyValue(key=key, value=any_value(value)) for key, value in attributes.items()]


def span(
    span_id: bytes = ROOT,
    parent: bytes = b"",
    *,
    trace_id: bytes = TRACE,
    name: str = "span",
    start: int = T0,
    end: int = T0 + 1_000_000,
    attributes: dict[str, Any] | None = None,
    **fields: Any,
) -> Span:
    return Span(
        trace_id=trace_id,
        span_id=span_id,
        parent_span_id=parent,
        name=name,
        start_time_unix_nano=start,
        end_time_unix_nano=end,
        attributes=key_values(attributes or {}),
        **fields,
    )


def request(
    *spans: Span, resource: dict[str, Any] | None = None, scope: str = "test-scope"
) -> ExportTraceServiceRequest:
    return ExportTraceServiceRequest(
        resource_spans=[
            ResourceSpans(
                resource=Resource(attributes=key_values(resource or {})),
                scope_spans=[ScopeSpans(scope=InstrumentationScope(name=scope), spans=list(spans))],
            )
        ]
    )


def body(*spans: Span, resource: dict[str, Any] | None = None) -> bytes:
    return request(*spans, resource=resource).SerializeToString()


__all__ = ["CHILD", "ROOT", "T0", "TRACE", "Status", "any_value", "body", "key_values", "request", "span"]
