"""Read a batch of traces from the store and shape it into the three archive tables' Arrow rows.

Index rows come straight from the SQL index (one query per table per chunk of ids), spans from the
payload packs through `SqlTraceStore.get_span_texts_of` — each trace's stored JSON, which opens
each pack once per batch. The spans are parsed one trace at a time and turned at once into a tuple
of column values per row of both tables, split into Arrow columns at the end (see span_rows.py for
why: no dict per row, and nothing for the garbage collector to walk again and again).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from operator import itemgetter
from typing import Any

import orjson
import pyarrow as pa
from sqlalchemy import Connection, select

from tracelake.monitoring.archive.schema import ASSESSMENTS, TRACES
from tracelake.monitoring.archive.span_rows import JSON_OPTION, SpanDict, SpanRows, root_span, trace_spans
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


def _day(ms: int) -> int:
    """Days since the epoch (Arrow date32) of a millisecond time, in UTC."""
    return ms // _MS_PER_DAY


def _us(ms: int | None) -> int | None:
    return None if ms is None else ms * 1000


def _json(value: Any) -> str | None:
    return None if value is None else orjson.dumps(value, option=JSON_OPTION).decode()


def _key_values(connection: Connection, table: Any, trace_ids: Sequence[str]) -> dict[str, tuple[tuple[str, str], ...]]:
    values: dict[str, list[tuple[str, str]]] = defaultdict(list)
    for chunk in chunks(list(trace_ids)):
        query = select(table.c.trace_id, table.c.key, table.c.value).where(table.c.trace_id.in_(chunk))
        for trace_id, key, value in connection.execute(query).all():  # one fetch, not one per row
            values[trace_id].append((key, value))
    return {trace_id: tuple(pairs) for trace_id, pairs in values.items()}


#: (archive column, index column) of the `traces` columns copied from the index row as they are.
_COPIED = (
    ("trace_id", "trace_id"),
    ("state", "state"),
    ("name", "name"),
    ("execution_duration_ms", "execution_duration"),
    ("request_preview", "request_preview"),
    ("response_preview", "response_preview"),
    ("client_request_id", "client_request_id"),
    ("session_id", "session_id"),
    ("user_id", "user_id"),
    ("input_tokens", "input_tokens"),
    ("output_tokens", "output_tokens"),
    ("total_tokens", "total_tokens"),
    ("cached_input_tokens", "cached_input_tokens"),
    ("reasoning_tokens", "reasoning_tokens"),
    ("input_cost", "input_cost"),
    ("output_cost", "output_cost"),
    ("total_cost", "total_cost"),
)
#: The index columns a batch reads, in this order: the copied ones, then those converted.
_INDEX_COLUMNS = (
    *(traces.c[index] for _, index in _COPIED),
    traces.c.experiment_id,
    traces.c.request_time,
    traces.c.end_time,
    traces.c.last_update_time,
)
_EXPERIMENT_AT, _REQUEST_TIME_AT = len(_COPIED), len(_COPIED) + 1  # where the converted ones start
IndexRow = tuple[Any, ...]


#: The columns of a `_TraceRows` row after the index row's own.
_MADE = (
    "experiment_id",
    "date",
    "request_time",
    "end_time",
    "last_update_time",
    "request",
    "response",
    "tags",
    "metadata",
    "span_count",
    "spans",
)
#: Where each `traces` column is in a `_TraceRows` row.
_TRACE_ROW = {
    **{name: at for at, (name, _) in enumerate(_COPIED)},
    **{name: len(_INDEX_COLUMNS) + at for at, name in enumerate(_MADE)},
}


class _TraceRows:
    """The `traces` table of a batch: one tuple per trace (the index row, then what is made of it)."""

    def __init__(self) -> None:
        self._rows: list[tuple[Any, ...]] = []

    def add(
        self,
        row: IndexRow,
        spans: Sequence[SpanDict],
        tags: Sequence[tuple[str, str]],
        metadata: Sequence[tuple[str, str]],
    ) -> None:
        experiment_id, request_time, end_time, last_update_time = row[_EXPERIMENT_AT:]
        root = root_span(spans)
        made = (
            str(experiment_id),
            _day(request_time),
            _us(request_time),
            _us(end_time),
            _us(last_update_time),
            None if root is None else _json(root.get("inputs")),
            None if root is None else _json(root.get("outputs")),
            tags,
            metadata,
            len(spans),
            orjson.dumps(spans, option=JSON_OPTION).decode(),
        )
        self._rows.append(row + made)

    def table(self, now_us: int) -> pa.Table:
        rows = self._rows
        columns = {name: list(map(itemgetter(at), rows)) for name, at in _TRACE_ROW.items()}
        columns["archived_time"] = [now_us] * len(rows)
        return pa.Table.from_arrays([pa.array(columns[field.name], field.type) for field in TRACES], schema=TRACES)


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
    # Rows as plain tuples, tags as tuples of pairs, span texts as tuples: the garbage collector
    # stops tracking those at its first look, so thousands of them per batch never make it walk
    # everything the process holds (row mappings and lists did: up to a fifth of the time of a batch).
    trace_rows: dict[str, IndexRow] = {}
    assessment_rows: list[Mapping[Any, Any]] = []
    with store.engine.connect() as connection:
        for chunk in chunks(list(trace_ids)):
            for found in connection.execute(select(*_INDEX_COLUMNS).where(traces.c.trace_id.in_(chunk))).all():
                trace_rows[found[0]] = tuple(found)
            query = select(assessments).where(assessments.c.trace_id.in_(chunk))
            assessment_rows.extend(connection.execute(query).mappings())
        tags = _key_values(connection, trace_tags, list(trace_rows))
        metadata = _key_values(connection, trace_metadata, list(trace_rows))
    texts_of = store.get_span_texts_of(list(trace_rows))
    trace_out = _TraceRows()
    span_out = SpanRows()
    for trace_id, row in trace_rows.items():
        # Parsed, used and dropped trace by trace: no span dict outlives its trace (span_rows.py).
        spans = trace_spans(texts_of.pop(trace_id, ()))
        trace_out.add(row, spans, tags.get(trace_id, ()), metadata.get(trace_id, ()))
        span_out.add(str(row[_EXPERIMENT_AT]), _day(row[_REQUEST_TIME_AT]), spans)
    assessment_out = [
        _assessment_row(row, _day(trace_rows[row["trace_id"]][_REQUEST_TIME_AT]), now_us)
        for row in assessment_rows
        if row["trace_id"] in trace_rows
    ]
    return ArchiveBatch(
        traces=trace_out.table(now_us),
        spans=span_out.table(now_us),
        assessments=pa.Table.from_pylist(assessment_out, schema=ASSESSMENTS),
    )
