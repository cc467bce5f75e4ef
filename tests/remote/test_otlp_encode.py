from __future__ import annotations

import dataclasses

import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, ArrayValue, InstrumentationScope, KeyValue, KeyValueList
from opentelemetry.proto.resource.v1.resource_pb2 import Resource
from opentelemetry.proto.trace.v1.trace_pb2 import Span, Status

from tracelake.ingest.otlp import decode_protobuf
from tracelake.model import EventRecord, SpanRecord, StatusCode
from tracelake.tracing.export.otlp_encode import SDK_SCOPE, encode_records, split_body
from tracelake.version import __version__

from .otlp_server import plain

TRACE = "0af7651916cd43dd8448eb211c80319c"
T0 = 1_750_000_000_000_000_000


def rec(span_id: str, parent: str | None = None, **kwargs: object) -> SpanRecord:
    fields: dict[str, object] = {
        "trace_id": TRACE,
        "span_id": span_id,
        "parent_span_id": parent,
        "name": f"span-{span_id[-2:]}",
        "start_time_ns": T0,
        "end_time_ns": T0 + 5_000_000,
    }
    fields.update(kwargs)
    return SpanRecord(**fields)  # type: ignore[arg-type]


def parse(body: bytes) -> ExportTraceServiceRequest:
    request = ExportTraceServiceRequest()
    request.ParseFromString(body)
    return request


def test_span_fields_travel_with_their_otlp_types() -> None:
    record = rec(
        "00f067aa0ba902b7",
        "b7ad6b7169203331",
        status_code=StatusCode.ERROR,
        status_message="boom",
        kind="CLIENT",
        attributes={
            "s": "text",
            "b": True,
            "i": 42,
            "f": 0.5,
            "strings": ["a", "b"],
            "ints": [1, 2],
            "bools": [True, False],
            "huge": 1 << 70,
            "none": None,
        },
        events=(EventRecord("exception", T0 + 1, {"exception.type": "ValueError", "n": 3}),),
        resource_attributes={"service.name": "agent", "pid": 7},
        scope_name="openinference.instrumentation.openai",
    )
    batch = encode_records([record])
    assert (batch.spans, batch.invalid) == (1, 0)
    request = parse(batch.body)
    (resource_spans,) = request.resource_spans
    assert {kv.key: plain(kv.value) for kv in resource_spans.resource.attributes} == {"service.name": "agent", "pid": 7}
    (scope_spans,) = resource_spans.scope_spans
    assert scope_spans.scope.name == "openinference.instrumentation.openai"
    (span,) = scope_spans.spans
    assert span.trace_id.hex() == TRACE
    assert span.span_id.hex() == "00f067aa0ba902b7"
    assert span.parent_span_id.hex() == "b7ad6b7169203331"
    assert span.kind == Span.SpanKind.SPAN_KIND_CLIENT
    assert (span.start_time_unix_nano, span.end_time_unix_nano) == (T0, T0 + 5_000_000)
    assert span.status.code == Status.StatusCode.STATUS_CODE_ERROR
    assert span.status.message == "boom"
    kinds = {kv.key: kv.value.WhichOneof("value") for kv in span.attributes}
    assert kinds == {
        "s": "string_value",
        "b": "bool_value",
        "i": "int_value",
        "f": "double_value",
        "strings": "array_value",
        "ints": "array_value",
        "bools": "array_value",
        "huge": "string_value",  # beyond int64: kept exactly, as text
    }
    values = {kv.key: plain(kv.value) for kv in span.attributes}
    assert values["strings"] == ["a", "b"]
    assert values["ints"] == [1, 2]
    assert values["huge"] == str(1 << 70)
    (event,) = span.events
    assert (event.name, event.time_unix_nano) == ("exception", T0 + 1)
    assert {kv.key: plain(kv.value) for kv in event.attributes} == {"exception.type": "ValueError", "n": 3}


def test_sdk_spans_get_the_tracelake_scope_and_root_spans_no_parent() -> None:
    request = parse(encode_records([rec("00f067aa0ba902b7")]).body)
    scope_spans = request.resource_spans[0].scope_spans[0]
    assert scope_spans.scope.name == SDK_SCOPE
    assert scope_spans.scope.version
    assert scope_spans.spans[0].parent_span_id == b""
    assert scope_spans.spans[0].kind == Span.SpanKind.SPAN_KIND_INTERNAL


def test_spans_are_grouped_by_resource_and_scope() -> None:
    records = [
        rec("0000000000000001", resource_attributes={"service.name": "a"}),
        rec("0000000000000002", resource_attributes={"service.name": "b"}),
        rec("0000000000000003", resource_attributes={"service.name": "a"}, scope_name="other"),
        rec("0000000000000004", resource_attributes={"service.name": "a"}),
    ]
    request = parse(encode_records(records).body)
    layout = [
        (plain(rs.resource.attributes[0].value), ss.scope.name, [s.span_id.hex()[-1] for s in ss.spans])
        for rs in request.resource_spans
        for ss in rs.scope_spans
    ]
    assert layout == [("a", SDK_SCOPE, ["1", "4"]), ("a", "other", ["3"]), ("b", SDK_SCOPE, ["2"])]


def test_extra_resource_attributes_are_added_to_every_resource() -> None:
    records = [rec("0000000000000001", resource_attributes={"service.name": "a"}), rec("0000000000000002")]
    request = parse(encode_records(records, {"tracelake.experiment.name": "naïve"}).body)
    for resource_spans in request.resource_spans:
        attributes = {kv.key: plain(kv.value) for kv in resource_spans.resource.attributes}
        assert attributes["tracelake.experiment.name"] == "naïve"


def test_records_with_invalid_ids_are_left_out_and_counted() -> None:
    batch = encode_records([rec("not-hex-at-all!!"), rec("0000000000000000"), rec("0000000000000001")])
    assert (batch.spans, batch.invalid) == (1, 2)
    assert len(parse(batch.body).resource_spans[0].scope_spans[0].spans) == 1


def test_strings_that_are_not_valid_unicode_are_repaired_not_dropped() -> None:
    broken = rec(
        "0000000000000001",
        name="bad\udc80name",
        attributes={"a": "x\ud800", "list": ["\udcff"]},
        resource_attributes={"host": "h\udc80"},
    )
    batch = encode_records([broken, rec("0000000000000002", resource_attributes={"host": "h\udc80"})])
    assert (batch.spans, batch.invalid) == (2, 0)
    request = parse(batch.body)
    assert len(request.resource_spans) == 1
    span = request.resource_spans[0].scope_spans[0].spans[0]
    assert span.name == "bad\ufffdname"
    assert {kv.key: plain(kv.value) for kv in span.attributes} == {"a": "x\ufffd", "list": ["\ufffd"]}


def test_the_servers_decoder_reads_back_exactly_what_was_encoded() -> None:
    records = [
        rec(
            "00f067aa0ba902b7",
            attributes={"tracelake.span.inputs": '{"q": 1}', "n": 7, "ok": False, "tags": ["x", "y"], "p": 0.25},
            events=(EventRecord("chunk", T0 + 9, {"i": 1}),),
            resource_attributes={"service.name": "agent"},
            status_code=StatusCode.OK,
        ),
        rec("b7ad6b7169203331", "00f067aa0ba902b7", kind="SERVER", scope_name="lib", end_time_ns=None),
    ]
    decoded = decode_protobuf(encode_records(records).body)
    assert decoded.rejected == []
    expected = [
        dataclasses.replace(records[0], scope_name=SDK_SCOPE),
        dataclasses.replace(records[1]),
    ]
    assert sorted(decoded.records, key=lambda r: r.span_id) == sorted(expected, key=lambda r: r.span_id)


def test_split_halves_the_spans_and_keeps_resources_and_scopes() -> None:
    records = [
        rec(f"{i:016x}", resource_attributes={"service.name": "a" if i < 4 else "b"}, scope_name=f"s{i % 2}")
        for i in range(1, 8)
    ]
    whole = encode_records(records)
    first, second = split_body(whole.body)
    assert (first.spans, second.spans) == (3, 4)
    ids: list[str] = []
    for part in (first, second):
        for resource_spans in parse(part.body).resource_spans:
            service = plain(resource_spans.resource.attributes[0].value)
            for scope_spans in resource_spans.scope_spans:
                for span in scope_spans.spans:
                    number = int(span.span_id.hex(), 16)
                    assert service == ("a" if number < 4 else "b")
                    assert scope_spans.scope.name == f"s{number % 2}"
                    ids.append(span.span_id.hex())
    assert sorted(ids) == sorted(r.span_id for r in records)


def test_split_refuses_a_single_span() -> None:
    with pytest.raises(ValueError, match="fewer than two"):
        split_body(encode_records([rec("0000000000000001")]).body)


def _any(value: object) -> AnyValue:
    if isinstance(value, bool):
        return AnyValue(bool_value=value)
    if isinstance(value, int):
        return AnyValue(int_value=value) if -(1 << 63) <= value < (1 << 63) else AnyValue(string_value=str(value))
    if isinstance(value, float):
        return AnyValue(double_value=value)
    if isinstance(value, bytes):
        return AnyValue(bytes_value=value)
    if isinstance(value, list | tuple):
        return AnyValue(array_value=ArrayValue(values=[_any(item) for item in value]))
    if isinstance(value, dict):
        return AnyValue(kvlist_value=KeyValueList(values=_kvs(value)))
    return AnyValue(string_value=str(value))


def _kvs(attributes: dict[str, object]) -> list[KeyValue]:
    return [KeyValue(key=key, value=_any(value)) for key, value in attributes.items() if value is not None]


def protobuf_body(records: list[SpanRecord], extra_resource: dict[str, object]) -> bytes:
    """The same request built with the protobuf classes and serialised by the protobuf library."""
    request = ExportTraceServiceRequest()
    resources: dict[str, object] = {}
    scopes: dict[tuple[str, str], object] = {}
    for r in records:
        resource_key = repr(sorted(r.resource_attributes.items()))
        if resource_key not in resources:
            attributes = {**r.resource_attributes, **extra_resource}
            resources[resource_key] = request.resource_spans.add(resource=Resource(attributes=_kvs(attributes)))
        scope_name = r.scope_name or SDK_SCOPE
        if (resource_key, scope_name) not in scopes:
            version = __version__ if scope_name == SDK_SCOPE else ""
            scope = InstrumentationScope(name=scope_name, version=version)
            scopes[resource_key, scope_name] = resources[resource_key].scope_spans.add(scope=scope)  # type: ignore[attr-defined]
        span = Span(
            trace_id=bytes.fromhex(r.trace_id),
            span_id=bytes.fromhex(r.span_id),
            parent_span_id=bytes.fromhex(r.parent_span_id or ""),
            name=r.name,
            kind=Span.SpanKind.Value(f"SPAN_KIND_{r.kind}"),
            start_time_unix_nano=r.start_time_ns,
            end_time_unix_nano=r.end_time_ns or 0,
            attributes=_kvs(r.attributes),
            events=[
                Span.Event(time_unix_nano=e.timestamp_ns, name=e.name, attributes=_kvs(e.attributes)) for e in r.events
            ],
            status=Status(code=Status.StatusCode.Value(f"STATUS_CODE_{r.status_code.value}"), message=r.status_message),
        )
        scopes[resource_key, scope_name].spans.append(span)  # type: ignore[attr-defined]
    return request.SerializeToString()


def test_the_bytes_are_those_the_protobuf_library_writes_for_the_same_request() -> None:
    records = [
        rec(
            "00f067aa0ba902b7",
            attributes={
                "tracelake.span.inputs": '{"q": "naïve ' + "x" * 300 + '"}',
                "empty": "",
                "b": False,
                "i": -7,
                "big": 1 << 40,
                "huge": -(1 << 70),
                "f": -0.5,
                "raw": b"\x00\xff",
                "list": ["a", 1, 2.5, True, [3]],
                "map": {"k": "v", "n": {"deep": 1}},
                "none": None,
            },
            events=(EventRecord("exception", T0 + 1, {"exception.type": "ValueError"}), EventRecord("", 0, {})),
            resource_attributes={"service.name": "agent", "pid": 7},
            status_code=StatusCode.ERROR,
            status_message="boom",
        ),
        rec("b7ad6b7169203331", "00f067aa0ba902b7", kind="SERVER", scope_name="lib", end_time_ns=None),
        rec("0000000000000003", resource_attributes={"service.name": "other"}, status_code=StatusCode.OK, name=""),
        rec("0000000000000004", "00f067aa0ba902b7", attributes={f"k{i}": "v" * i for i in range(200)}),
    ]
    extra = {"tracelake.experiment.name": "naïve"}
    batch = encode_records(records, extra)
    assert (batch.spans, batch.invalid) == (4, 0)
    assert batch.body == protobuf_body(records, extra)
