"""The write path: merge incoming spans into the index and the payload objects, in one transaction.

Steps, on the caller's write transaction:

1. Lock the trace rows (`SELECT … FOR UPDATE`; rows for new traces are first inserted as
   placeholders with `ON CONFLICT DO NOTHING`). Every writer of a trace takes its row lock before
   reading its spans, so concurrent PostgreSQL writers of one trace serialise; on SQLite the
   transaction already holds the database's write lock.
2. Read which spans are stored; classify each incoming span as new, completing a stored
   in-progress span, or duplicate.
3. Write one payload segment per trace holding the new and completed spans — before the index rows
   commit, so whatever a write acknowledges is readable.
4. Insert / update span rows, update trace summaries, upsert tags and metadata: a handful of
   executemany statements per call whatever its size.
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection, bindparam, select, update

from tracelake.model import Experiment, Span, StatusCode, TraceMetadataKey, TraceState
from tracelake.store.artifacts import TracePayloads, join_uri
from tracelake.store.sql.batches import IncomingTrace
from tracelake.store.sql.dialect import chunks, execute_many, insert_ignoring_conflicts, upsert
from tracelake.store.sql.rows import KEY_MAX, NAME_MAX, USAGE_COLUMNS, clip, ns_to_ms, span_row, usage_values
from tracelake.store.sql.schema import spans, trace_metadata, trace_tags, traces

_SPAN_UPDATE_COLUMNS = (
    "parent_span_id",
    "name",
    "span_type",
    "status",
    "end_time_ns",
    "duration_ns",
    "model_name",
    "counted",
    *USAGE_COLUMNS,
)
_TRACE_UPDATE_COLUMNS = (
    "request_time",
    "end_time",
    "execution_duration",
    "state",
    "name",
    "root_span_id",
    "request_preview",
    "response_preview",
    "client_request_id",
    "session_id",
    "user_id",
    "span_count",
    "last_update_time",
    *USAGE_COLUMNS,
)

# Long-lived statements: execute_many caches their compiled SQL. WHERE parameters of an UPDATE may
# not share names with the columns it sets, hence the b_ prefixes.
_INSERT_SPANS = spans.insert()
_UPDATE_SPANS = update(spans).where(
    (spans.c.trace_id == bindparam("b_trace_id")) & (spans.c.span_id == bindparam("b_span_id"))
)
_UPDATE_TRACES = update(traces).where(traces.c.trace_id == bindparam("b_trace_id"))


@dataclass(frozen=True, slots=True)
class _StoredSpan:
    end_time_ns: int | None
    counted: bool
    usage: Mapping[str, int | float | None]


@dataclass(slots=True)
class WriteOutcome:
    """What one write transaction did (filled in as it goes)."""

    written_spans: int = 0
    duplicate_spans: int = 0
    segments: list[tuple[str, str]] = field(default_factory=list)
    """(payload URI, key) of every segment written, to discard them if the transaction fails."""
    to_compact: list[str] = field(default_factory=list)
    """Payload URIs of traces whose root has arrived and that now have several objects."""


def write_traces(
    connection: Connection,
    experiment: Experiment,
    incoming: Mapping[str, IncomingTrace],
    payloads: TracePayloads,
    now_ms: int,
    outcome: WriteOutcome,
) -> None:
    """Merge `incoming` into the index and payloads of `experiment`, recording progress in `outcome`."""
    ids = sorted(incoming)  # one lock order for every writer: fewer deadlocks on PostgreSQL
    rows = _lock_traces(connection, experiment, incoming, ids, now_ms)
    stored = _stored_spans(connection, ids)
    new_rows: list[dict[str, Any]] = []
    changed_rows: list[dict[str, Any]] = []
    trace_updates: list[dict[str, Any]] = []
    tag_rows: list[dict[str, Any]] = []
    metadata_rows: list[dict[str, Any]] = []
    segments: list[tuple[str, Sequence[Span]]] = []
    for trace_id in ids:
        row, trace, known = rows[trace_id], incoming[trace_id], stored.get(trace_id, {})
        outcome.duplicate_spans += trace.duplicates
        fresh: list[Span] = []
        deltas: dict[str, int | float | None] = dict.fromkeys(USAGE_COLUMNS)
        span_count = row["span_count"]
        for span in trace.spans.values():
            old = known.get(span.span_id)
            if old is not None and not (old.end_time_ns is None and span.end_time_ns is not None):
                outcome.duplicate_spans += 1
                continue
            counted = span.span_id in trace.counted_span_ids
            span_values = span_row(span, row["experiment_id"], counted)
            if old is None:
                new_rows.append(span_values)
                span_count += 1
            else:
                changed_rows.append(_renamed_keys(span_values))
            if counted or (old is not None and old.counted):
                _add_usage(deltas, usage_values(span) if counted else {}, old)
            fresh.append(span)
        if not fresh:
            continue  # only duplicates: a replayed batch changes nothing, not even tags
        outcome.written_spans += len(fresh)
        segments.append((row["payload_uri"], fresh))
        update_values = _summarise(row, trace, fresh, deltas, span_count, now_ms)
        trace_updates.append(update_values)
        if known and update_values["root_span_id"] is not None:
            outcome.to_compact.append(row["payload_uri"])
        tag_rows.extend(_key_values(trace_id, trace.tags))
        metadata_rows.extend(_key_values(trace_id, trace.metadata))

    writes = payloads.start_segments(segments)
    try:
        execute_many(connection, _INSERT_SPANS, new_rows)
        execute_many(connection, _UPDATE_SPANS, changed_rows)
        execute_many(connection, _UPDATE_TRACES, trace_updates)
        upsert(connection, trace_tags, tag_rows, ("trace_id", "key"), ("value",))
        upsert(connection, trace_metadata, metadata_rows, ("trace_id", "key"), ("value",))
    except BaseException:
        # Wait anyway, so that the caller can discard every segment written; the statement's error
        # is the one worth reporting.
        with contextlib.suppress(Exception):
            writes.finish(outcome.segments)
        raise
    writes.finish(outcome.segments)


def _lock_traces(
    connection: Connection,
    experiment: Experiment,
    incoming: Mapping[str, IncomingTrace],
    ids: Sequence[str],
    now_ms: int,
) -> dict[str, dict[str, Any]]:
    rows = _select_for_update(connection, ids)
    missing = [trace_id for trace_id in ids if trace_id not in rows]
    if missing:
        placeholders = [
            {
                "trace_id": trace_id,
                "experiment_id": int(experiment.experiment_id),
                "request_time": ns_to_ms(incoming[trace_id].min_start_ns),
                "state": TraceState.IN_PROGRESS.value,
                "span_count": 0,
                # Fixed at first write: later changes of the experiment's location move nothing.
                "payload_uri": join_uri(experiment.artifact_location, "traces", trace_id),
                "last_update_time": now_ms,
            }
            for trace_id in missing
        ]
        # A concurrent writer (PostgreSQL) may insert the same trace first: then ours does nothing and
        # the select below locks the row it made, which may even be in another experiment.
        insert_ignoring_conflicts(connection, traces, placeholders, ("trace_id",))
        rows.update(_select_for_update(connection, missing))
    return rows


def _select_for_update(connection: Connection, ids: Sequence[str]) -> dict[str, dict[str, Any]]:
    rows: dict[str, dict[str, Any]] = {}
    for chunk in chunks(ids):
        query = select(traces).where(traces.c.trace_id.in_(chunk)).order_by(traces.c.trace_id).with_for_update()
        for row in connection.execute(query).mappings():
            rows[row["trace_id"]] = dict(row)
    return rows


def _stored_spans(connection: Connection, ids: Sequence[str]) -> dict[str, dict[str, _StoredSpan]]:
    columns = [spans.c.trace_id, spans.c.span_id, spans.c.end_time_ns, spans.c.counted]
    columns += [spans.c[name] for name in USAGE_COLUMNS]
    stored: dict[str, dict[str, _StoredSpan]] = {}
    for chunk in chunks(ids):
        for row in connection.execute(select(*columns).where(spans.c.trace_id.in_(chunk))).mappings():
            usage = {name: row[name] for name in USAGE_COLUMNS}
            stored.setdefault(row["trace_id"], {})[row["span_id"]] = _StoredSpan(
                row["end_time_ns"], bool(row["counted"]), usage
            )
    return stored


def _renamed_keys(values: dict[str, Any]) -> dict[str, Any]:
    renamed = {name: values[name] for name in _SPAN_UPDATE_COLUMNS}
    renamed["b_trace_id"] = values["trace_id"]
    renamed["b_span_id"] = values["span_id"]
    return renamed


def _add_usage(
    deltas: dict[str, int | float | None], new: Mapping[str, int | float | None], old: _StoredSpan | None
) -> None:
    """Add what a span now contributes to the trace totals, minus what its stored version did."""
    previous = old.usage if old is not None and old.counted else {}
    for name in USAGE_COLUMNS:
        now_value, before = new.get(name), previous.get(name)
        if now_value is None and before is None:
            continue
        deltas[name] = (deltas[name] or 0) + (now_value or 0) - (before or 0)


def _summarise(
    row: Mapping[str, Any],
    trace: IncomingTrace,
    fresh: Sequence[Span],
    deltas: Mapping[str, int | float | None],
    span_count: int,
    now_ms: int,
) -> dict[str, Any]:
    values = {name: row[name] for name in _TRACE_UPDATE_COLUMNS}
    values["b_trace_id"] = row["trace_id"]
    values["request_time"] = min(row["request_time"], ns_to_ms(min(span.start_time_ns for span in fresh)))
    ends = [ns_to_ms(span.end_time_ns) for span in fresh if span.end_time_ns is not None]
    if row["end_time"] is not None:
        ends.append(row["end_time"])
    values["end_time"] = max(ends) if ends else None
    root = _root_of(row["root_span_id"], fresh)
    if root is not None:
        values["name"] = clip(root.name, NAME_MAX)
        values["root_span_id"] = root.span_id
        duration_ns = root.duration_ns
        values["execution_duration"] = None if duration_ns is None else duration_ns // 1_000_000
        if duration_ns is None:
            values["state"] = TraceState.IN_PROGRESS.value
        elif root.status.code == StatusCode.ERROR:
            values["state"] = TraceState.ERROR.value
        else:
            values["state"] = TraceState.OK.value
    for name in ("client_request_id", "request_preview", "response_preview"):
        value = getattr(trace, name)
        if value is not None:
            values[name] = clip(value, KEY_MAX) if name == "client_request_id" else value
    for column, key in (("session_id", TraceMetadataKey.SESSION), ("user_id", TraceMetadataKey.USER)):
        if key in trace.metadata:
            values[column] = clip(str(trace.metadata[key]), KEY_MAX)
    for name, delta in deltas.items():
        if delta is not None:
            values[name] = (row[name] or 0) + delta
    values["span_count"] = span_count
    values["last_update_time"] = now_ms
    return values


def _root_of(stored_root_id: str | None, fresh: Sequence[Span]) -> Span | None:
    """Return the root span among `fresh`: the known root, or else the earliest parentless span."""
    if stored_root_id is not None:
        return next((span for span in fresh if span.span_id == stored_root_id), None)
    roots = [span for span in fresh if span.parent_id is None]
    return min(roots, key=lambda span: span.start_time_ns) if roots else None


def _key_values(trace_id: str, items: Mapping[str, str]) -> list[dict[str, Any]]:
    # Keyed by the clipped key: one statement may not upsert the same (trace, key) twice on PostgreSQL.
    rows = {clip(str(key), KEY_MAX): str(value) for key, value in items.items()}
    return [{"trace_id": trace_id, "key": key, "value": value} for key, value in rows.items()]
