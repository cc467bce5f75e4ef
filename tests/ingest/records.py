"""Builders of SpanRecords for the ingest tests."""

from __future__ import annotations

from typing import Any

import orjson

from tracelake.model import EventRecord, SpanRecord, StatusCode

TRACE_ID = "0af7651916cd43dd8448eb211c80319c"
T0 = 1_750_000_000_000_000_000


def js(value: Any) -> str:
    return orjson.dumps(value).decode()


def record(
    span_id: str = "b7ad6b7169203331",
    parent: str | None = None,
    attributes: dict[str, Any] | None = None,
    *,
    trace_id: str = TRACE_ID,
    name: str = "span",
    events: tuple[EventRecord, ...] = (),
    resource: dict[str, Any] | None = None,
    status: StatusCode = StatusCode.UNSET,
    status_message: str = "",
    start: int = T0,
    end: int | None = T0 + 1_000_000,
) -> SpanRecord:
    return SpanRecord(
        trace_id=trace_id,
        span_id=span_id,
        parent_span_id=parent,
        name=name,
        start_time_ns=start,
        end_time_ns=end,
        status_code=status,
        status_message=status_message,
        attributes=attributes or {},
        events=events,
        resource_attributes=resource or {},
    )
