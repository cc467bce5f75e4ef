"""SpanRecord: a span as it leaves an SDK or arrives over OTLP, before normalisation.

This is the one input of `tracelake.ingest`: the embedded exporter builds records in-process, the
server's OTLP door decodes them from protobuf or JSON. It mirrors the OTLP span closely so that no
information is lost on the way in; conventions are interpreted only by `ingest`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from tracelake.model._span import StatusCode


# Not frozen: a frozen dataclass sets every field through object.__setattr__, five times the cost of
# a plain one, and a record is built for every span on the export path. Treat records as read-only.
@dataclass(slots=True)
class EventRecord:
    name: str
    timestamp_ns: int
    attributes: dict[str, Any] = field(default_factory=dict)


@dataclass(slots=True)
class SpanRecord:
    """One span in wire form: ids as lowercase hex, times in Unix nanoseconds.

    Attribute values are OpenTelemetry attribute values (str, bool, int, float or homogeneous
    lists of them); tracelake's own structured values (inputs, outputs, trace tags) are JSON strings.
    """

    trace_id: str
    span_id: str
    parent_span_id: str | None
    name: str
    start_time_ns: int
    end_time_ns: int | None
    status_code: StatusCode = StatusCode.UNSET
    status_message: str = ""
    attributes: dict[str, Any] = field(default_factory=dict)
    events: tuple[EventRecord, ...] = ()
    resource_attributes: dict[str, Any] = field(default_factory=dict)
    kind: str = "INTERNAL"
    scope_name: str = ""
