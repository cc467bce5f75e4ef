from __future__ import annotations

import json

import pytest
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceResponse
from opentelemetry.proto.trace.v1.trace_pb2 import Span as PbSpan
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

from tracelake.ingest import normalize
from tracelake.ingest.otlp import (
    OtlpDecodeError,
    decode_protobuf,
    encode_protobuf_response,
    rejection_message,
)
from tracelake.model import StatusCode as Status

from .otlp_builders import CHILD, ROOT, T0, TRACE, body, request, span
from .otlp_builders import Status as PbStatus


def sdk_spans() -> list[object]:
    """Two spans made by the OpenTelemetry SDK, as any instrumented app would."""
    exporter = InMemorySpanExporter()
    provider = TracerProvider(resource=Resource.create({"service.name": "checkout", "tracelake.experiment.name": "x"}))
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = provider.get_tracer("my.instrumentation")
    with tracer.start_as_current_span("agent", kind=SpanKind.SERVER) as root:
        root.set_attribute("input.value", '{"question": "hi"}')
        root.set_attribute("tags", ["a", "b"])
        with tracer.start_as_current_span("llm") as child:
            child.set_attribute("gen_ai.usage.input_tokens", 12)
            child.add_event("chunk", {"index": 1})
            child.set_status(StatusCode.ERROR, "boom")
    provider.shutdown()
    return list(exporter.get_finished_spans())


def test_decodes_what_the_opentelemetry_sdk_encodes() -> None:
    spans = sdk_spans()
    decoded = decode_protobuf(encode_spans(spans).SerializeToString())  # type: ignore[arg-type]

    assert decoded.rejected == []
    assert len(decoded.groups) == 1
    group = decoded.groups[0]
    assert group.resource["service.name"] == "checkout"
    by_name = {record.name: record for record in group.records}
    root, llm = by_name["agent"], by_name["llm"]
    assert root.trace_id == llm.trace_id == f"{spans[0].context.trace_id:032x}"  # type: ignore[attr-defined]
    assert root.parent_span_id is None
    assert llm.parent_span_id == root.span_id
    assert root.kind == "SERVER"
    assert llm.kind == "INTERNAL"
    assert root.attributes == {"input.value": '{"question": "hi"}', "tags": ["a", "b"]}
    assert llm.attributes == {"gen_ai.usage.input_tokens": 12}
    assert llm.status_code is Status.ERROR
    assert llm.status_message == "boom"
    assert [(event.name, event.attributes) for event in llm.events] == [("chunk", {"index": 1})]
    assert llm.scope_name == "my.instrumentation"
    assert llm.resource_attributes is group.resource
    assert llm.start_time_ns > 0
    assert llm.end_time_ns is not None
    assert llm.end_time_ns >= llm.start_time_ns


def test_every_kind_of_attribute_value() -> None:
    attributes = {
        "s": "text",
        "b": True,
        "i": -7,
        "d": 1.5,
        "bytes": b"\x00\x01",
        "strings": ["a", "b"],
        "ints": [1, 2],
        "empty": [],
        "mixed": [1, "a"],
        "nested": [[1, 2], {"k": "v"}],
        "map": {"a": 1, "b": [True, 2.5], "c": {"d": b"\xff"}},
    }
    [record] = decode_protobuf(body(span(attributes=attributes))).records

    assert record.attributes == {
        "s": "text",
        "b": True,
        "i": -7,
        "d": 1.5,
        "bytes": "AAE=",
        "strings": ["a", "b"],
        "ints": [1, 2],
        "empty": [],
        "mixed": '[1,"a"]',
        "nested": '[[1,2],{"k":"v"}]',
        "map": json.dumps({"a": 1, "b": [True, 2.5], "c": {"d": "/w=="}}, separators=(",", ":")),
    }


def test_a_value_left_empty_is_dropped_and_null_inside_nested_values() -> None:
    pb = span()
    pb.attributes.add(key="unset")
    nested = pb.attributes.add(key="list")
    nested.value.array_value.values.add()
    [record] = decode_protobuf(request(pb).SerializeToString()).records
    assert record.attributes == {"list": "[null]"}


def test_parent_ids_status_codes_and_open_spans() -> None:
    decoded = decode_protobuf(
        body(
            span(ROOT, parent=bytes(8), status=PbStatus(code=PbStatus.STATUS_CODE_OK)),
            span(CHILD, parent=ROOT, end=0, status=PbStatus(code=7), kind=PbSpan.SPAN_KIND_CLIENT),
        )
    )
    root, child = decoded.records
    assert root.parent_span_id is None  # an all-zero parent means "no parent"
    assert root.status_code is Status.OK
    assert child.parent_span_id == ROOT.hex()
    assert child.end_time_ns is None  # still open
    assert child.status_code is Status.UNSET  # an unknown code is not trusted
    assert child.kind == "CLIENT"


@pytest.mark.parametrize(
    ("bad", "reason"),
    [
        (span(trace_id=bytes(16)), "invalid trace id"),
        (span(trace_id=b"\x01" * 8), "invalid trace id"),
        (span(trace_id=CHILD), "invalid trace id"),  # the good span's id: still not a trace id
        (span(span_id=bytes(8)), "invalid span id"),
        (span(span_id=b"\x01" * 16), "invalid span id"),
        (span(parent=b"\x01" * 3), "invalid parent span id"),
        (span(parent=TRACE), "invalid parent span id"),  # the good span's trace id: not a span id
        (span(name=""), "missing name"),
        (span(start=0), "missing start time"),
        (span(start=T0, end=T0 - 1), "end time is before start time"),
    ],
)
def test_unstorable_spans_are_rejected_with_a_reason(bad: PbSpan, reason: str) -> None:
    good = span(CHILD, name="good")
    decoded = decode_protobuf(body(good, bad))

    assert [record.name for record in decoded.records] == ["good"]
    [rejected] = decoded.rejected
    assert rejected.index == 1
    assert reason in rejected.reason
    message = rejection_message(decoded.rejected, 2)
    assert message.startswith("rejected 1 of 2 spans: span #1")
    assert reason in message


def test_groups_follow_resources_and_skip_empty_ones() -> None:
    message = request(span(ROOT), resource={"service.name": "a"})
    message.resource_spans.extend(request(span(CHILD), resource={"service.name": "b"}).resource_spans)
    message.resource_spans.extend(request(span(trace_id=bytes(16)), resource={"service.name": "c"}).resource_spans)
    decoded = decode_protobuf(message.SerializeToString())

    assert [group.resource["service.name"] for group in decoded.groups] == ["a", "b"]
    assert decoded.accepted_count == 2
    assert [record.span_id for record in decoded.records] == [ROOT.hex(), CHILD.hex()]
    assert len(decoded.rejected) == 1
    assert decoded.rejected[0].index == 2


def test_decoded_spans_normalise_into_one_trace() -> None:
    decoded = decode_protobuf(
        body(
            span(ROOT, name="agent", attributes={"tracelake.span.type": "AGENT", "session.id": "s-1"}),
            span(CHILD, ROOT, name="llm", attributes={"gen_ai.operation.name": "chat", "gen_ai.usage.input_tokens": 3}),
        )
    )
    [batch] = normalize(decoded.records)
    assert batch.trace_id == TRACE.hex()
    assert {s.name: s.span_type for s in batch.spans} == {"agent": "AGENT", "llm": "CHAT_MODEL"}
    assert batch.fields.metadata["session_id"] == "s-1"


@pytest.mark.parametrize(
    ("data", "problem"),
    [
        (b"\xff\xff\xff", "truncated varint"),
        (b"\x0f", "unsupported wire type 7"),
        (b"\x0a\x50\x01", "length 80"),
    ],
)
def test_malformed_bodies_are_refused_with_what_and_where(data: bytes, problem: str) -> None:
    with pytest.raises(OtlpDecodeError, match="malformed protobuf") as raised:
        decode_protobuf(data)
    assert problem in str(raised.value)


def test_invalid_utf8_names_the_field() -> None:
    good = body(span(name="ok-name"))
    broken = good.replace(b"ok-name", b"ok\xffname")
    with pytest.raises(OtlpDecodeError) as raised:
        decode_protobuf(broken)
    assert "resource_spans[0].scope_spans[0].spans[0].name: invalid UTF-8" in str(raised.value)


def test_an_empty_body_is_an_empty_request() -> None:
    decoded = decode_protobuf(b"")
    assert decoded.groups == []
    assert decoded.rejected == []


def test_responses_set_partial_success_only_when_spans_were_refused() -> None:
    assert encode_protobuf_response(0, "") == b""
    response = ExportTraceServiceResponse.FromString(encode_protobuf_response(2, "rejected 2 of 5 spans"))
    assert response.partial_success.rejected_spans == 2
    assert response.partial_success.error_message == "rejected 2 of 5 spans"
