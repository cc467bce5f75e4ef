"""`span_index`: the shape of a trace (every span's name, type, timing, status, usage) without payloads.

The trace view draws its tree and timeline from this: one indexed read of the `spans` table, a few
hundred bytes per span however large the span's inputs and outputs are. A span's payload is read
only when the span is opened; `payload_version` tells a cache of decoded payloads whether what it
holds is still the trace's payload.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import select

from tracelake.exceptions import NotFoundError
from tracelake.query.metrics import MetricsStore
from tracelake.store.sql.schema import spans, trace_segments, traces

__all__ = ["PayloadVersion", "SpanSummary", "payload_version", "span_index"]


@dataclass(frozen=True, slots=True)
class SpanSummary:
    """One span as the index knows it (times in ns since the epoch; usage None when not reported)."""

    span_id: str
    parent_id: str | None
    name: str
    span_type: str
    status: str
    start_time_ns: int
    end_time_ns: int | None
    model_name: str | None
    total_tokens: int | None
    total_cost: float | None

    def to_dict(self) -> dict[str, Any]:
        """Return the REST form."""
        return {name: getattr(self, name) for name in self.__dataclass_fields__}


def span_index(store: MetricsStore, trace_id: str) -> list[SpanSummary]:
    """Return the trace's spans by start time (ties by id), without inputs, outputs, attributes or events.

    Raises:
        NotFoundError: no trace has this id.
    """
    statement = (
        select(
            spans.c.span_id,
            spans.c.parent_span_id,
            spans.c.name,
            spans.c.span_type,
            spans.c.status,
            spans.c.start_time_ns,
            spans.c.end_time_ns,
            spans.c.model_name,
            spans.c.total_tokens,
            spans.c.total_cost,
        )
        .where(spans.c.trace_id == trace_id)
        .order_by(spans.c.start_time_ns, spans.c.span_id)
    )
    rows = store.execute_read(statement)
    if not rows and not store.execute_read(select(traces.c.trace_id).where(traces.c.trace_id == trace_id)):
        raise NotFoundError(f"no trace with id {trace_id!r}")
    return [
        SpanSummary(
            span_id=row[0],
            parent_id=row[1],
            name=row[2],
            span_type=row[3],
            status=row[4],
            start_time_ns=int(row[5]),
            end_time_ns=None if row[6] is None else int(row[6]),
            model_name=row[7],
            total_tokens=None if row[8] is None else int(row[8]),
            total_cost=None if row[9] is None else float(row[9]),
        )
        for row in rows
    ]


@dataclass(frozen=True, slots=True)
class PayloadVersion:
    """What identifies a trace's stored payload: it changes whenever spans are added or replaced.

    `key` holds the trace's last update time and span count, its legacy object's URI and the exact
    byte ranges of its payload-pack members (a new write always adds a member in a new pack);
    `stored_bytes` is the compressed size of those members (0 for a legacy object).
    """

    key: tuple[Any, ...]
    stored_bytes: int


def payload_version(store: MetricsStore, trace_id: str) -> PayloadVersion:
    """Return the version of the trace's payload: two cheap indexed reads, no payload.

    Raises:
        NotFoundError: no trace has this id.
    """
    found = store.execute_read(
        select(traces.c.last_update_time, traces.c.span_count, traces.c.payload_uri).where(
            traces.c.trace_id == trace_id
        )
    )
    if not found:
        raise NotFoundError(f"no trace with id {trace_id!r}")
    segments = store.execute_read(
        select(trace_segments.c.pack_id, trace_segments.c.byte_offset, trace_segments.c.byte_length)
        .where(trace_segments.c.trace_id == trace_id)
        .order_by(trace_segments.c.pack_id)
    )
    members = tuple((int(row[0]), int(row[1]), int(row[2])) for row in segments)
    row = found[0]
    return PayloadVersion(
        key=(int(row[0]), int(row[1]), row[2], members), stored_bytes=sum(member[2] for member in members)
    )
