"""OTLP requests for the server tests: traces of several spans, encoded as senders encode them."""

from __future__ import annotations

import base64
import json
from typing import Any

from google.protobuf import json_format
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.resource.v1.resource_pb2 import Resource
from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans, ScopeSpans, Span

T0 = 1_764_000_000_000_000_000
PROTOBUF = {"content-type": "application/x-protobuf"}
JSON = {"content-type": "application/json"}


def trace_id(n: int) -> str:
    return f"{n:032x}"


def span_id(trace: int, n: int) -> str:
    return f"{trace:08x}{n + 1:08x}"


def _kv(attributes: dict[str, Any]) -> list[KeyValue]:
    out = []
    for key, value in attributes.items():
        if isinstance(value, int):
            out.append(KeyValue(key=key, value=AnyValue(int_value=value)))
        else:
            out.append(KeyValue(key=key, value=AnyValue(string_value=str(value))))
    return out


def spans(trace: int, count: int = 3, *, first: int = 0, bad: bool = False) -> list[Span]:
    """Spans `first..first+count-1` of trace number `trace`: span 0 is the root, the others its children.

    `bad` gives the last span an all-zero span id (which the server must refuse).
    """
    made = []
    for n in range(first, first + count):
        attributes: dict[str, Any] = {"tracelake.span.type": "AGENT" if n == 0 else "TOOL"}
        if n == 0:
            attributes["tracelake.span.inputs"] = json.dumps({"question": f"q{trace}"})
            attributes["tracelake.span.outputs"] = json.dumps({"answer": f"a{trace}"})
        made.append(
            Span(
                trace_id=bytes.fromhex(trace_id(trace)),
                span_id=bytes(8) if bad and n == first + count - 1 else bytes.fromhex(span_id(trace, n)),
                parent_span_id=b"" if n == 0 else bytes.fromhex(span_id(trace, 0)),
                name="agent" if n == 0 else f"tool_{n}",
                start_time_unix_nano=T0 + trace * 1_000_000_000 + n * 1_000_000,
                end_time_unix_nano=T0 + trace * 1_000_000_000 + (100 - n) * 1_000_000,
                attributes=_kv(attributes),
            )
        )
    return made


def request(*span_lists: list[Span], resource: dict[str, Any] | None = None) -> ExportTraceServiceRequest:
    resource = {"service.name": "support-agent", **(resource or {})}
    return ExportTraceServiceRequest(
        resource_spans=[
            ResourceSpans(
                resource=Resource(attributes=_kv(resource)),
                scope_spans=[ScopeSpans(spans=[span for group in span_lists for span in group])],
            )
        ]
    )


def protobuf(*span_lists: list[Span], resource: dict[str, Any] | None = None) -> bytes:
    return request(*span_lists, resource=resource).SerializeToString()


def otlp_json(*span_lists: list[Span], resource: dict[str, Any] | None = None) -> bytes:
    """The OTLP/JSON encoding: ids in hex, as the specification asks (protobuf's own mapping uses base64)."""
    data = json_format.MessageToDict(request(*span_lists, resource=resource))
    for resource_spans in data["resourceSpans"]:
        for scope_spans in resource_spans["scopeSpans"]:
            for item in scope_spans["spans"]:
                for key in ("traceId", "spanId", "parentSpanId"):
                    if key in item:
                        item[key] = base64.b64decode(item[key]).hex()
    return json.dumps(data).encode()
