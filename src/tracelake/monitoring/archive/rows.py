"""Read a batch of traces from the store and shape it into the three archive tables' Arrow rows.

Index rows come straight from the SQL index (one query per table per chunk of ids), spans from the
payload packs through `SqlTraceStore.get_span_dicts_of` — the stored span dicts, with no `Span`
objects built — which opens each pack once per batch.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import orjson
import pyarrow as pa
from sqlalchemy import Connection, select

from tracelake.monitoring.archive.schema import ASSESSMENTS, SPANS, TRACES
from tracelake.store import SqlTraceStore
from tracelake.store.sql.dialect import chunks
from tracelake.store.sql.schema import assessments, trace_metadata, trace_tags, traces

_MS_PER_DAY = 86_400_000


@dataclass(frozen=True)
class ArchiveBatch:
    """The rows of one sync batch, one Arrow table per archive table."""

    traces: pa.Table
    spans: pa.Table
    assessments: pa.Table

    def table(self, name: str) -> pa.Table:
        """Return the rows for the archive table `name`."""
        return {"traces": self.traces, "spans": self.spans, "assessments": self.assessments}[name]


def _json(value: Any) -> str | None:
    return None if value is None else orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS).decode()


def _json_or_none(value: Any, dumps: Any, option: int) -> str | None:
    return None if value is None else str(dumps(value, option=option).decode())


def _day(ms: int) -> int:
    """Days since the epoch (Arrow date32) of a millisecond time, in UTC."""
    return ms // _MS_PER_DAY


def _us(ms: int | None) -> int | None:
    return None if ms is None else ms * 1000


def _key_values(connection: Connection, table: Any, trace_ids: Sequence[str]) -> dict[str, list[tuple[str, str]]]:
    values: dict[str, list[tuple[str, str]]] = defaultdict(list)
    for chunk in chunks(list(trace_ids)):
        query = select(table.c.trace_id, table.c.key, table.c.value).where(table.c.trace_id.in_(chunk))
        for trace_id, key, value in connection.execute(query):
            values[trace_id].append((key, value))
    return values


SpanDict = dict[str, Any]


def _root(spans: Sequence[SpanDict]) -> SpanDict | None:
    ids = {span["span_id"] for span in spans}
    for span in spans:
        parent_id = span.get("parent_id")
        if parent_id is None or parent_id not in ids:
            return span
    return None


def _usage_column(values: Sequence[Mapping[str, Any] | None], name: str) -> list[Any]:
    return [None if value is None else value.get(name) for value in values]


def _spans_table(spans_by_trace: Sequence[tuple[str, int, Sequence[SpanDict]]], now_us: int) -> pa.Table:
    """Build the `spans` rows column by column (per-row dicts cost twice as much at a million spans)."""
    spans = [span for _, _, trace_spans in spans_by_trace for span in trace_spans]
    experiment_ids = [experiment for experiment, _, trace_spans in spans_by_trace for _ in trace_spans]
    days = [day for _, day, trace_spans in spans_by_trace for _ in trace_spans]
    dumps, option = orjson.dumps, orjson.OPT_NON_STR_KEYS
    usages = [span.get("token_usage") for span in spans]
    costs = [span.get("cost") for span in spans]
    starts = [span["start_time_ns"] for span in spans]
    ends = [span.get("end_time_ns") for span in spans]
    statuses = [span.get("status") or {} for span in spans]
    columns: dict[str, list[Any]] = {
        "trace_id": [span["trace_id"] for span in spans],
        "span_id": [span["span_id"] for span in spans],
        "experiment_id": experiment_ids,
        "date": days,
        "parent_span_id": [span.get("parent_id") for span in spans],
        "name": [span["name"] for span in spans],
        "span_type": [span.get("span_type") or "UNKNOWN" for span in spans],
        "status_code": [status.get("code", "UNSET") for status in statuses],
        "status_message": [status.get("message", "") for status in statuses],
        "start_time": [start // 1000 for start in starts],
        "end_time": [None if end is None else end // 1000 for end in ends],
        "start_time_ns": starts,
        "end_time_ns": ends,
        "duration_ms": [None if end is None else (end - start) / 1e6 for start, end in zip(starts, ends, strict=True)],
        "model_name": [span.get("model_name") for span in spans],
        "inputs": [_json_or_none(span.get("inputs"), dumps, option) for span in spans],
        "outputs": [_json_or_none(span.get("outputs"), dumps, option) for span in spans],
        "attributes": [dumps(span.get("attributes") or {}, option=option).decode() for span in spans],
        "events": [dumps(span.get("events") or [], option=option).decode() for span in spans],
        "archived_time": [now_us] * len(spans),
    }
    for name in ("input_tokens", "output_tokens", "total_tokens", "cached_input_tokens", "reasoning_tokens"):
        columns[name] = _usage_column(usages, name)
    for name in ("input_cost", "output_cost", "total_cost"):
        columns[name] = _usage_column(costs, name)
    return pa.Table.from_arrays([pa.array(columns[field.name], field.type) for field in SPANS], schema=SPANS)


def _trace_row(
    row: Mapping[Any, Any],
    spans: Sequence[SpanDict],
    tags: list[tuple[str, str]],
    metadata: list[tuple[str, str]],
    now_us: int,
) -> dict[str, Any]:
    root = _root(spans)
    return {
        "trace_id": row["trace_id"],
        "experiment_id": str(row["experiment_id"]),
        "date": _day(row["request_time"]),
        "request_time": _us(row["request_time"]),
        "end_time": _us(row["end_time"]),
        "execution_duration_ms": row["execution_duration"],
        "state": row["state"],
        "name": row["name"],
        "request": None if root is None else _json(root.get("inputs")),
        "response": None if root is None else _json(root.get("outputs")),
        "request_preview": row["request_preview"],
        "response_preview": row["response_preview"],
        "client_request_id": row["client_request_id"],
        "session_id": row["session_id"],
        "user_id": row["user_id"],
        "tags": tags,
        "metadata": metadata,
        **{
            name: row[name]
            for name in (
                "input_tokens",
                "output_tokens",
                "total_tokens",
                "cached_input_tokens",
                "reasoning_tokens",
                "input_cost",
                "output_cost",
                "total_cost",
            )
        },
        "span_count": len(spans),
        "spans": orjson.dumps(spans, option=orjson.OPT_NON_STR_KEYS).decode(),
        "last_update_time": _us(row["last_update_time"]),
        "archived_time": now_us,
    }


def _assessment_row(row: Mapping[Any, Any], day: int, now_us: int) -> dict[str, Any]:
    metadata = orjson.loads(row["metadata"]) if row["metadata"] else None
    return {
        "assessment_id": row["assessment_id"],
        "trace_id": row["trace_id"],
        "experiment_id": str(row["experiment_id"]),
        "date": day,
        "name": row["name"],
        "kind": row["kind"],
        "value": row["value"],
        "numeric_value": row["numeric_value"],
        "rationale": row["rationale"],
        "source_type": row["source_type"],
        "source_id": row["source_id"],
        "span_id": row["span_id"],
        "metadata": None if metadata is None else list(metadata.items()),
        "error": row["error"],
        "create_time": _us(row["create_time_ms"]),
        "last_update_time": _us(row["last_update_time_ms"]),
        "archived_time": now_us,
    }


def load_batch(store: SqlTraceStore, trace_ids: Sequence[str], now_ms: int) -> ArchiveBatch:
    """Read the traces `trace_ids` (their index rows, tags, metadata, assessments and spans) as rows.

    Traces deleted since they were selected are left out.
    """
    now_us = now_ms * 1000
    trace_rows: dict[str, Mapping[Any, Any]] = {}
    assessment_rows: list[Mapping[Any, Any]] = []
    with store.engine.connect() as connection:
        for chunk in chunks(list(trace_ids)):
            for found in connection.execute(select(traces).where(traces.c.trace_id.in_(chunk))).mappings():
                trace_rows[found["trace_id"]] = found
            query = select(assessments).where(assessments.c.trace_id.in_(chunk))
            assessment_rows.extend(connection.execute(query).mappings())
        tags = _key_values(connection, trace_tags, list(trace_rows))
        metadata = _key_values(connection, trace_metadata, list(trace_rows))
    spans_of = store.get_span_dicts_of(list(trace_rows))
    trace_out: list[dict[str, Any]] = []
    span_groups: list[tuple[str, int, Sequence[SpanDict]]] = []
    for trace_id, row in trace_rows.items():
        spans = spans_of.get(trace_id, [])
        trace_out.append(_trace_row(row, spans, tags.get(trace_id, []), metadata.get(trace_id, []), now_us))
        span_groups.append((str(row["experiment_id"]), _day(row["request_time"]), spans))
    assessment_out = [
        _assessment_row(row, _day(trace_rows[row["trace_id"]]["request_time"]), now_us)
        for row in assessment_rows
        if row["trace_id"] in trace_rows
    ]
    return ArchiveBatch(
        traces=pa.Table.from_pylist(trace_out, schema=TRACES),
        spans=_spans_table(span_groups, now_us),
        assessments=pa.Table.from_pylist(assessment_out, schema=ASSESSMENTS),
    )
