from __future__ import annotations

import base64
import json
from typing import Any

import pytest
from google.protobuf import json_format
from opentelemetry.proto.trace.v1.trace_pb2 import Span as PbSpan

from tracelake.ingest.otlp import OtlpDecodeError, decode_protobuf
from tracelake.ingest.otlp_json import decode_json, encode_json_response
from tracelake.model import StatusCode

from .otlp_builders import CHILD, ROOT, TRACE, Status, request, span

TRACE_HEX = TRACE.hex()
ROOT_HEX = ROOT.hex()


def otlp_json(*spans: dict[str, Any], resource: dict[str, Any] | None = None) -> bytes:
    """A request as the OTLP specification's JSON example writes it."""
    return json.dumps(
        {
            "resourceSpans": [
                {
                    "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "svc"}}]}
                    if resource is None
                    else resource,
                    "scopeSpans": [{"scope": {"name": "my.library", "version": "1.0.0"}, "spans": list(spans)}],
                }
            ]
        }
    ).encode()


def json_span(**fields: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "traceId": TRACE_HEX,
        "spanId": ROOT_HEX,
        "parentSpanId": "",
        "name": "I'm a server span",
        "startTimeUnixNano": "1544712660000000000",
        "endTimeUnixNano": "1544712661000000000",
        "kind": 2,
        "attributes": [{"key": "my.span.attr", "value": {"stringValue": "some value"}}],
    }
    base.update(fields)
    return {key: value for key, value in base.items() if value is not None}


def test_the_specification_example() -> None:
    decoded = decode_json(otlp_json(json_span()))
    assert decoded.rejected == []
    [record] = decoded.records
    assert record.trace_id == TRACE_HEX
    assert record.span_id == ROOT_HEX
    assert record.parent_span_id is None
    assert record.name == "I'm a server span"
    assert record.start_time_ns == 1544712660000000000
    assert record.end_time_ns == 1544712661000000000
    assert record.kind == "SERVER"
    assert record.attributes == {"my.span.attr": "some value"}
    assert record.resource_attributes == {"service.name": "svc"}
    assert record.scope_name == "my.library"


def test_json_and_protobuf_of_one_request_decode_alike() -> None:
    message = request(
        span(
            ROOT,
            name="agent",
            attributes={"s": "x", "i": 2**40, "d": 0.25, "b": False, "l": ["a"], "m": {"k": [1, "v"]}, "raw": b"\x01"},
            status=Status(code=Status.STATUS_CODE_ERROR, message="bad"),
            kind=PbSpan.SPAN_KIND_CONSUMER,
        ),
        span(CHILD, ROOT, name="tool", events=[PbSpan.Event(name="e", time_unix_nano=5)]),
        resource={"service.name": "svc", "tracelake.experiment_id": 3},
    )
    # protobuf's own JSON mapping: base64 ids, int64 as strings, enum names.
    as_json = json_format.MessageToJson(message).encode()
    assert base64.b64encode(TRACE).decode() in as_json.decode()

    from_json, from_protobuf = decode_json(as_json), decode_protobuf(message.SerializeToString())
    assert from_json.records == from_protobuf.records
    assert from_json.records[0].status_code is StatusCode.ERROR
    assert from_json.records[0].kind == "CONSUMER"
    assert from_json.records[0].attributes["i"] == 2**40


def test_snake_case_keys_and_numbers_are_accepted() -> None:
    snake = {
        "resource_spans": [
            {
                "scope_spans": [
                    {
                        "spans": [
                            {
                                "trace_id": TRACE_HEX.upper(),
                                "span_id": ROOT_HEX,
                                "name": "n",
                                "start_time_unix_nano": 1_700_000_000_000_000_000,
                                "end_time_unix_nano": 1_700_000_000_000_000_001,
                                "status": {"code": "STATUS_CODE_OK"},
                                "kind": "SPAN_KIND_CLIENT",
                                "attributes": [
                                    {"key": "n", "value": {"int_value": 5}},
                                    {"key": "f", "value": {"doubleValue": "NaN"}},
                                    {"key": "g", "value": {"doubleValue": 3}},
                                ],
                            }
                        ]
                    }
                ]
            }
        ]
    }
    [record] = decode_json(json.dumps(snake).encode()).records
    assert record.trace_id == TRACE_HEX
    assert record.status_code is StatusCode.OK
    assert record.kind == "CLIENT"
    assert record.attributes["n"] == 5
    assert record.attributes["g"] == 3.0
    assert record.attributes["f"] != record.attributes["f"]  # NaN


def test_nested_values_become_json_strings() -> None:
    attributes = [
        {"key": "list", "value": {"arrayValue": {"values": [{"intValue": "1"}, {"intValue": "2"}]}}},
        {"key": "mixed", "value": {"arrayValue": {"values": [{"intValue": "1"}, {"stringValue": "a"}]}}},
        {"key": "map", "value": {"kvlistValue": {"values": [{"key": "k", "value": {"boolValue": True}}]}}},
        {"key": "empty", "value": {}},
        {"key": "bytes", "value": {"bytesValue": "AAE="}},
    ]
    [record] = decode_json(otlp_json(json_span(attributes=attributes))).records
    assert record.attributes == {"list": [1, 2], "mixed": '[1,"a"]', "map": '{"k":true}', "bytes": "AAE="}


def test_older_instrumentation_library_spans_are_read() -> None:
    body = {
        "resourceSpans": [
            {"instrumentationLibrarySpans": [{"instrumentationLibrary": {"name": "old"}, "spans": [json_span()]}]}
        ]
    }
    [record] = decode_json(json.dumps(body).encode()).records
    assert record.scope_name == "old"


@pytest.mark.parametrize(
    ("fields", "reason"),
    [
        ({"traceId": "00" * 16}, "invalid trace id"),
        ({"traceId": None}, "invalid trace id"),
        ({"traceId": "xyz"}, "invalid trace id: expected 32 hex characters"),
        ({"spanId": "0" * 16}, "invalid span id"),
        ({"spanId": 12}, "invalid span id"),
        ({"parentSpanId": "abc"}, "invalid parent span id"),
        ({"name": None}, "missing name"),
        ({"name": ""}, "missing name"),
        ({"startTimeUnixNano": "soon"}, "startTimeUnixNano is not an integer"),
        ({"startTimeUnixNano": None}, "missing start time"),
    ],
)
def test_unstorable_spans_are_rejected(fields: dict[str, Any], reason: str) -> None:
    decoded = decode_json(otlp_json(json_span(spanId=CHILD.hex(), name="good"), json_span(**fields)))
    assert [record.name for record in decoded.records] == ["good"]
    [rejected] = decoded.rejected
    assert rejected.index == 1
    assert reason in rejected.reason


def test_a_span_that_is_not_an_object_is_rejected() -> None:
    decoded = decode_json(otlp_json(json_span(), ["not", "a", "span"]))  # type: ignore[arg-type]
    assert len(decoded.records) == 1
    assert decoded.rejected[0].reason == "a span must be an object, not list"


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"{", "not valid JSON"),
        (b'{"resourceSpans": [{"scopeSpans": "x"}]}', "resourceSpans[0].scopeSpans must be a list"),
        (b'{"resourceSpans": {}}', ".resourceSpans must be a list"),
        (b"[]", "the request body must be an object"),
        (b'{"resourceSpans": [{"resource": 1}]}', "resourceSpans[0].resource must be an object"),
        (b'{"x": "\xff"}', "not valid UTF-8 (byte 7)"),
    ],
)
def test_unreadable_requests_are_refused(body: bytes, message: str) -> None:
    with pytest.raises(OtlpDecodeError) as raised:
        decode_json(body)
    assert message in str(raised.value)


def test_responses() -> None:
    assert encode_json_response(0, "") == b"{}"
    expected = {"partialSuccess": {"rejectedSpans": "3", "errorMessage": "why"}}
    assert json.loads(encode_json_response(3, "why")) == expected


def test_values_nested_too_deeply_are_refused() -> None:
    value: dict[str, Any] = {"stringValue": "x"}
    for _ in range(300):
        value = {"arrayValue": {"values": [value]}}
    deep = [{"key": "deep", "value": value}]
    decoded = decode_json(otlp_json(json_span(spanId=CHILD.hex()), json_span(attributes=deep)))
    assert len(decoded.records) == 1
    assert "nested deeper than 32 levels" in decoded.rejected[0].reason
    with pytest.raises(OtlpDecodeError, match=r"resourceSpans\[0\]\.resource: an attribute value is nested"):
        decode_json(otlp_json(json_span(), resource={"attributes": deep}))
