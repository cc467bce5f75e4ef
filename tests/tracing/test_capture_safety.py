from __future__ import annotations

import dataclasses
import datetime as dt
import enum
import json
from typing import Any

import pydantic
import pytest

import tracelake
from tracelake.testing import TraceCapture, capture_traces


class Color(enum.Enum):
    RED = "red"


@dataclasses.dataclass
class Order:
    id: str
    placed: dt.datetime


class Ticket(pydantic.BaseModel):
    id: int
    tags: list[str]


class Hostile:
    def __repr__(self) -> str:
        raise RuntimeError("no repr for you")

    def __str__(self) -> str:
        raise RuntimeError("no str either")


def test_hostile_and_exotic_objects_are_captured_without_raising(tracelake_capture: TraceCapture) -> None:
    cyclic: dict[str, Any] = {"name": "loop"}
    cyclic["self"] = cyclic
    values = {
        "model": Ticket(id=1, tags=["vip"]),
        "dataclass": Order("o-1", dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=dt.timezone.utc)),
        "enum": Color.RED,
        "date": dt.date(2026, 1, 2),
        "bytes": b"\x00\x01binary",
        "set": {3},
        "cycle": cyclic,
        "hostile": Hostile(),
    }

    @tracelake.trace
    def handle(payload: dict[str, Any]) -> Hostile:
        return Hostile()

    result = handle(values)
    assert isinstance(result, Hostile)
    (span,) = tracelake_capture.spans
    captured = span.inputs["payload"]
    assert captured["model"] == {"id": 1, "tags": ["vip"]}
    assert captured["dataclass"] == {"id": "o-1", "placed": "2026-01-02T03:04:05+00:00"}
    assert captured["enum"] == "red"
    assert captured["date"] == "2026-01-02"
    assert captured["bytes"]["size"] == 8
    assert captured["set"] == [3]
    assert captured["cycle"]["self"].startswith("<cycle")
    assert "repr failed" in captured["hostile"]
    assert "repr failed" in span.outputs


def test_exception_whose_str_raises_is_still_recorded(tracelake_capture: TraceCapture) -> None:
    class Weird(Exception):
        def __str__(self) -> str:
            raise RuntimeError("boom")

    @tracelake.trace
    def fail() -> None:
        raise Weird()

    with pytest.raises(Weird):
        fail()
    (span,) = tracelake_capture.spans
    assert span.status.code.value == "ERROR"
    assert "unprintable" in span.events[0].attributes["exception.message"]


def test_oversized_input_is_truncated_with_marker() -> None:
    with capture_traces(max_payload_bytes=100_000) as capture:
        with tracelake.start_span("big") as span:
            span.set_inputs({"document": "x" * 10_000_000})
            span.set_outputs("small")
        (stored,) = capture.spans
    assert isinstance(stored.inputs, str)
    assert len(stored.inputs) < 101_000
    assert "[tracelake: truncated" in stored.inputs
    assert stored.outputs == "small"
    assert stored.attributes["tracelake.span.truncated"] == ["inputs"]


def test_default_limit_truncates_ten_megabytes(tracelake_capture: TraceCapture) -> None:
    @tracelake.trace
    def ingest_doc(doc: str) -> int:
        return len(doc)

    assert ingest_doc("y" * 10_000_000) == 10_000_000
    (span,) = tracelake_capture.spans
    assert "[tracelake: truncated" in json.dumps(span.inputs)
    assert len(json.dumps(span.inputs)) < 1_100_000
