"""The write path: merge incoming spans into the index and the payload objects, in one transaction.

Steps, on the caller's write transaction:

1. Lock the rows of the traces already stored (`SELECT … FOR UPDATE`). Every writer of a trace
   takes its row lock before reading its spans, so concurrent PostgreSQL writers of one trace
   serialise; on SQLite the transaction already holds the database's write lock.
2. Insert the traces not stored yet — the common case — complete, in one statement: their summary
   comes from the incoming spans alone and they have no stored spans to read. On PostgreSQL a
   concurrent writer may insert one of them first (`ON CONFLICT DO NOTHING … RETURNING` tells
   which); that trace is then locked and merged like a stored one.
3. Read the spans of the stored traces; classify each incoming span as new, completing a stored
   in-progress span, or duplicate.
4. Write one payload pack holding a member per trace with its new and completed spans, on a
   thread, while the index statements run — before the index rows commit, so whatever a write
   acknowledges is readable.
5. Insert / update span rows, update the summaries of stored traces, upsert tags and metadata, and
   record the pack and where each trace's member lies in it: a handful of executemany statements
   per call whatever its size.
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping, Sequence, Set
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection, bindparam, insert, select, update

from tracelake.model import Experiment, Span, StatusCode, TraceMetadataKey, TraceState
from tracelake.store.artifacts import join_uri
from tracelake.store.artifacts.packs import PayloadPacks, new_pack_key
from tracelake.store.artifacts.payload import merge_spans, order_spans
from tracelake.store.sql import segments as seg
from tracelake.store.sql.batches import IncomingTrace
from tracelake.store.sql.counting import counted_spans
from tracelake.store.sql.dialect import (
    chunks,
    execute_grouped,
    execute_many,
    insert_ignoring_conflicts,
    insert_returning,
    upsert,
)
from tracelake.store.sql.rows import (
    KEY_MAX,
    NAME_MAX,
    SPAN_COLUMNS,
    USAGE_COLUMNS,
    SpanRows,
    clean,
    clip,
    ns_to_ms,
    span_row,
    usage_values,
)
from tracelake.store.sql.schema import payload_packs, spans, trace_metadata, trace_segments, trace_tags, traces

#: `traces.payload_format` of traces whose spans are only in packs (see migration 0004).
PAYLOAD_FORMAT_PACKS = 2

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
# What a trace row holds before any span is merged into it: a new trace is inserted as this row
# merged with its spans, by the same code that merges spans into a stored row.
_BLANK_TRACE: dict[str, Any] = {
    **dict.fromkeys(_TRACE_UPDATE_COLUMNS),
    "state": TraceState.IN_PROGRESS.value,
    "span_count": 0,
}
_INSERT_SEGMENTS = trace_segments.insert()
_INSERT_PACK = insert(payload_packs).returning(payload_packs.c.pack_id)

# Long-lived statements: execute_many caches their compiled SQL. WHERE parameters of an UPDATE may
# not share names with the columns it sets, hence the b_ prefixes.
_INSERT_SPANS = spans.insert()
_UPDATE_SPANS = update(spans).where(
    (spans.c.trace_id == bindparam("b_trace_id")) & (spans.c.span_id == bindparam("b_span_id"))
)
_UPDATE_TRACES = update(traces).where(traces.c.trace_id == bindparam("b_trace_id"))
_UPDATE_COUNTED = update(spans).where(
    (spans.c.trace_id == bindparam("b_trace_id")) & (spans.c.span_id == bindparam("b_span_id"))
)


@dataclass(frozen=True, slots=True)
class _StoredSpan:
    end_time_ns: int | None
    counted: bool
    usage: Mapping[str, int | float | None]
    parent_id: str | None = None


@dataclass(slots=True)
class WriteOutcome:
    """What one write transaction did (filled in as it goes)."""

    written_spans: int = 0
    duplicate_spans: int = 0
    packs: list[tuple[str, str]] = field(default_factory=list)
    """(location, key) of every pack written, to delete them if the transaction fails."""
    released: list[tuple[str, str]] = field(default_factory=list)
    """(location, key) of packs that no trace needs once the transaction commits."""


@dataclass(slots=True)
class _Changes:
    """The rows and segments one call writes, gathered over its traces."""

    new_spans: SpanRows = field(default_factory=SpanRows)
    changed_spans: list[dict[str, Any]] = field(default_factory=list)
    trace_updates: list[dict[str, Any]] = field(default_factory=list)
    tags: list[dict[str, Any]] = field(default_factory=list)
    metadata: list[dict[str, Any]] = field(default_factory=list)
    members: list[tuple[str, Sequence[Span]]] = field(default_factory=list)
    """(trace id, spans) of each member of the pack this call writes."""
    encoded: dict[int, bytes] = field(default_factory=dict)
    """The encoding of members (by index in `members`) that was made before the transaction."""
    to_compact: list[int] = field(default_factory=list)
    """Indexes in `members` of traces whose root arrived now and that have earlier members."""
    recounted: list[dict[str, Any]] = field(default_factory=list)
    """Stored spans whose `counted` flips because an ancestor with usage arrived (see counting.py)."""

    def add_keys(self, trace_id: str, trace: IncomingTrace) -> None:
        if trace.tags:
            self.tags.extend(_key_values(trace_id, trace.tags))
        if trace.metadata:
            self.metadata.extend(_key_values(trace_id, trace.metadata))


def write_traces(
    connection: Connection,
    experiment: Experiment,
    incoming: Mapping[str, IncomingTrace],
    packs: PayloadPacks,
    now_ms: int,
    outcome: WriteOutcome,
    encoded: Mapping[str, bytes] | None = None,
) -> None:
    """Merge `incoming` into the index and payloads of `experiment`, recording progress in `outcome`.

    `encoded` holds, by trace id, `encode_spans` of a trace's incoming spans (in their order in
    `IncomingTrace.spans`), made before the transaction: a trace stored now for the first time gets
    that as its member. Traces already stored get members encoded here.
    """
    ids = sorted(incoming)  # one lock order for every writer: fewer deadlocks on PostgreSQL
    rows = _select_for_update(connection, ids)
    changes = _Changes()
    absent = [trace_id for trace_id in ids if trace_id not in rows]
    if absent:
        taken = _insert_new_traces(connection, experiment, incoming, absent, now_ms, changes, outcome, encoded or {})
        if taken:
            # Inserted by a concurrent writer since our select (PostgreSQL): merge into its row. It may
            # even be in another experiment.
            rows.update(_select_for_update(connection, taken))
    if rows:
        stored_ids = [trace_id for trace_id in ids if trace_id in rows]
        _merge_into_stored(connection, rows, incoming, stored_ids, now_ms, changes, outcome)

    if not changes.members:
        return  # only duplicates
    old_packs = _compact_members(connection, packs, changes) if changes.to_compact else set()
    location, key = experiment.artifact_location, new_pack_key()
    # Recorded before the write starts: if anything below fails, the caller deletes the pack.
    outcome.packs.append((location, key))
    members = [changes.encoded.get(index, spans) for index, (_, spans) in enumerate(changes.members)]
    pack = packs.start_write(location, key, members)
    try:
        execute_grouped(connection, _INSERT_SPANS, SPAN_COLUMNS, changes.new_spans.by_columns())
        execute_many(connection, _UPDATE_SPANS, changes.changed_spans)
        execute_many(connection, _UPDATE_COUNTED, changes.recounted)
        execute_many(connection, _UPDATE_TRACES, changes.trace_updates)
        upsert(connection, trace_tags, changes.tags, ("trace_id", "key"), ("value",))
        upsert(connection, trace_metadata, changes.metadata, ("trace_id", "key"), ("value",))
    except BaseException:
        # Wait anyway, so that the caller's cleanup finds the pack written; the statement's error
        # is the one worth reporting.
        with contextlib.suppress(Exception):
            pack.finish()
        raise
    ranges, size = pack.finish()
    record_pack(connection, location, key, size, now_ms, changes.members, ranges)
    if old_packs:
        outcome.released.extend(seg.release_packs(connection, old_packs))


def _compact_members(connection: Connection, packs: PayloadPacks, changes: _Changes) -> set[int]:
    """Fold the earlier members of traces whose root arrived into the member this call writes.

    A finished trace is then one member, read with one ranged read. Nobody changes these traces'
    members meanwhile: this transaction holds their row locks (SQLite: the database's write lock).
    Returns the packs that held the folded members, to release once their segment rows are gone.
    """
    trace_ids = [changes.members[index][0] for index in changes.to_compact]
    index = seg.load_payload_index(connection, trace_ids)
    by_pack = seg.members_by_pack(index)
    earlier: dict[str, list[Sequence[Span]]] = {trace_id: [] for trace_id in trace_ids}
    for (location, key), members in by_pack.items():
        decoded: list[list[Span]] = packs.read_members(location, key, [member for _, member in members])
        for (trace_id, _), spans_ in zip(members, decoded, strict=True):
            earlier[trace_id].append(spans_)
    old_packs: set[int] = set()
    for member_index in changes.to_compact:
        trace_id, fresh = changes.members[member_index]
        # Fresh spans last: a span completed now replaces its stored in-progress version.
        changes.members[member_index] = (trace_id, order_spans(merge_spans([*earlier[trace_id], fresh])))
        pack_ids = {segment.pack_id for segment in index[trace_id].segments}
        seg.delete_segments(connection, trace_id, pack_ids)
        old_packs |= pack_ids
    return old_packs


def record_pack(
    connection: Connection,
    location: str,
    key: str,
    size: int,
    now_ms: int,
    members: Sequence[tuple[str, Sequence[Span]]],
    ranges: Sequence[Any],
) -> int:
    """Insert a pack's row and one segment row per member; return the pack's id."""
    values = {"location": location, "key": key, "size": size, "created_time": now_ms}
    pack_id = int(connection.execute(_INSERT_PACK, values).scalar_one())
    rows = [
        {
            "trace_id": trace_id,
            "pack_id": pack_id,
            "byte_offset": member.offset,
            "byte_length": member.length,
            "span_count": len(spans),
        }
        for (trace_id, spans), member in zip(members, ranges, strict=True)
    ]
    execute_many(connection, _INSERT_SEGMENTS, rows)
    return pack_id


def _insert_new_traces(
    connection: Connection,
    experiment: Experiment,
    incoming: Mapping[str, IncomingTrace],
    ids: Sequence[str],
    now_ms: int,
    changes: _Changes,
    outcome: WriteOutcome,
    encoded: Mapping[str, bytes],
) -> list[str]:
    """Insert the traces `ids` complete and gather their spans; return those someone else inserted."""
    experiment_id = int(experiment.experiment_id)
    location = experiment.artifact_location
    trace_rows: list[dict[str, Any]] = []
    for trace_id in ids:
        trace = incoming[trace_id]
        fresh = list(trace.spans.values())
        # Any span's start will do: `_summarise` lowers it to the earliest of `fresh`.
        blank = {**_BLANK_TRACE, "trace_id": trace_id, "request_time": ns_to_ms(fresh[0].start_time_ns)}
        deltas: dict[str, int | float | None] = dict.fromkeys(USAGE_COLUMNS)
        if trace.counted_span_ids:
            counted_ids = trace.counted_span_ids
            for span in fresh:
                if span.span_id in counted_ids:
                    _add_usage(deltas, usage_values(span), None)
        row = _summarise(blank, trace, fresh, deltas, len(fresh), now_ms)
        del row["b_trace_id"]
        row["trace_id"] = trace_id
        row["experiment_id"] = experiment_id
        # Fixed at first write: later changes of the experiment's location move nothing.
        row["payload_uri"] = join_uri(location, "traces", trace_id)
        row["payload_format"] = PAYLOAD_FORMAT_PACKS
        trace_rows.append(row)

    if connection.dialect.name == "postgresql":
        inserted = insert_returning(connection, traces, trace_rows, ("trace_id",), "trace_id")
    else:
        # SQLite: the transaction has held the database's write lock since before the select, so
        # nobody else can have inserted these traces; every row goes in.
        insert_ignoring_conflicts(connection, traces, trace_rows, ("trace_id",))
        inserted = None
    taken: list[str] = []
    for row in trace_rows:
        trace_id = row["trace_id"]
        if inserted is not None and trace_id not in inserted:
            taken.append(trace_id)
            continue
        trace = incoming[trace_id]
        fresh = list(trace.spans.values())
        changes.new_spans.extend(fresh, experiment_id, trace.counted_span_ids)
        member = encoded.get(trace_id)
        if member is not None:
            changes.encoded[len(changes.members)] = member
        changes.members.append((trace_id, fresh))
        changes.add_keys(trace_id, trace)
        outcome.written_spans += len(fresh)
        outcome.duplicate_spans += trace.duplicates
    return taken


def _merge_into_stored(
    connection: Connection,
    rows: Mapping[str, Mapping[str, Any]],
    incoming: Mapping[str, IncomingTrace],
    ids: Sequence[str],
    now_ms: int,
    changes: _Changes,
    outcome: WriteOutcome,
) -> None:
    """Merge incoming spans into traces whose rows are stored (and locked)."""
    stored = _stored_spans(connection, ids)
    for trace_id in ids:
        row, trace, known = rows[trace_id], incoming[trace_id], stored.get(trace_id, {})
        outcome.duplicate_spans += trace.duplicates
        fresh: list[Span] = []
        deltas: dict[str, int | float | None] = dict.fromkeys(USAGE_COLUMNS)
        span_count = row["span_count"]
        # The batch's own count cannot see stored ancestors, nor stored descendants it now covers.
        # Most traces have no usage at all: then nothing counts and the graph need not be built.
        counted_ids: Set[str] = trace.counted_span_ids
        if known and (counted_ids or any(old.counted for old in known.values())):
            counted_ids = _counted_with_stored(known, trace)
        for span in trace.spans.values():
            old = known.get(span.span_id)
            if old is not None and not (old.end_time_ns is None and span.end_time_ns is not None):
                outcome.duplicate_spans += 1
                continue
            counted = span.span_id in counted_ids
            if old is None:
                changes.new_spans.add(span, row["experiment_id"], counted)
                span_count += 1
            else:
                changes.changed_spans.append(_renamed_keys(span_row(span, row["experiment_id"], counted)))
            if counted or (old is not None and old.counted):
                _add_usage(deltas, usage_values(span) if counted else {}, old)
            fresh.append(span)
        if not fresh:
            continue  # only duplicates: a replayed batch changes nothing, not even tags
        for span_id, old in known.items():
            if old.counted != (span_id in counted_ids) and span_id not in trace.spans:
                now_counted = not old.counted
                changes.recounted.append({"b_trace_id": trace_id, "b_span_id": span_id, "counted": int(now_counted)})
                _add_usage(deltas, old.usage if now_counted else {}, old)
        outcome.written_spans += len(fresh)
        changes.members.append((trace_id, fresh))
        update_values = _summarise(row, trace, fresh, deltas, span_count, now_ms)
        changes.trace_updates.append(update_values)
        if known and update_values["root_span_id"] is not None and row["payload_format"] == PAYLOAD_FORMAT_PACKS:
            changes.to_compact.append(len(changes.members) - 1)
        changes.add_keys(trace_id, trace)


def _select_for_update(connection: Connection, ids: Sequence[str]) -> dict[str, dict[str, Any]]:
    rows: dict[str, dict[str, Any]] = {}
    for chunk in chunks(ids):
        query = select(traces).where(traces.c.trace_id.in_(chunk)).order_by(traces.c.trace_id).with_for_update()
        for row in connection.execute(query).mappings():
            rows[row["trace_id"]] = dict(row)
    return rows


def _stored_spans(connection: Connection, ids: Sequence[str]) -> dict[str, dict[str, _StoredSpan]]:
    columns = [spans.c.trace_id, spans.c.span_id, spans.c.end_time_ns, spans.c.counted, spans.c.parent_span_id]
    columns += [spans.c[name] for name in USAGE_COLUMNS]
    stored: dict[str, dict[str, _StoredSpan]] = {}
    for chunk in chunks(ids):
        for row in connection.execute(select(*columns).where(spans.c.trace_id.in_(chunk))).mappings():
            usage = {name: row[name] for name in USAGE_COLUMNS}
            stored.setdefault(row["trace_id"], {})[row["span_id"]] = _StoredSpan(
                row["end_time_ns"], bool(row["counted"]), usage, row["parent_span_id"]
            )
    return stored


def _counted_with_stored(known: Mapping[str, _StoredSpan], trace: IncomingTrace) -> Set[str]:
    """Return the spans of the trace, stored or incoming, whose usage counts in its totals."""
    parents = {span_id: old.parent_id for span_id, old in known.items()}
    with_usage = {span_id for span_id, old in known.items() if old.usage.get("total_tokens") is not None}
    for span_id, span in trace.spans.items():
        parents[span_id] = span.parent_id
        if span.token_usage is not None:
            with_usage.add(span_id)
        else:
            with_usage.discard(span_id)
    return counted_spans(parents, with_usage)


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
    start_ns = fresh[0].start_time_ns
    end_ns: int | None = None
    parentless: list[Span] = []
    for span in fresh:
        if span.start_time_ns < start_ns:
            start_ns = span.start_time_ns
        if span.end_time_ns is not None and (end_ns is None or span.end_time_ns > end_ns):
            end_ns = span.end_time_ns
        if span.parent_id is None:
            parentless.append(span)
    values["request_time"] = min(row["request_time"], ns_to_ms(start_ns))
    if end_ns is not None:
        end_ms = ns_to_ms(end_ns)
        values["end_time"] = end_ms if row["end_time"] is None else max(end_ms, row["end_time"])
    root = _root_of(row["root_span_id"], fresh, parentless)
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
    if trace.client_request_id is not None:
        values["client_request_id"] = clip(trace.client_request_id, KEY_MAX)
    if trace.request_preview is not None:
        values["request_preview"] = clean(trace.request_preview)
    if trace.response_preview is not None:
        values["response_preview"] = clean(trace.response_preview)
    metadata = trace.metadata
    if metadata:
        for column, key in (("session_id", TraceMetadataKey.SESSION), ("user_id", TraceMetadataKey.USER)):
            if key in metadata:
                values[column] = clip(str(metadata[key]), KEY_MAX)
    for name, delta in deltas.items():
        if delta is not None:
            values[name] = (row[name] or 0) + delta
    values["span_count"] = span_count
    values["last_update_time"] = now_ms
    return values


def _root_of(stored_root_id: str | None, fresh: Sequence[Span], parentless: Sequence[Span]) -> Span | None:
    """Return the root span among `fresh`: the known root, or else the earliest parentless span."""
    if stored_root_id is not None:
        return next((span for span in fresh if span.span_id == stored_root_id), None)
    return min(parentless, key=lambda span: span.start_time_ns) if parentless else None


def _key_values(trace_id: str, items: Mapping[str, str]) -> list[dict[str, Any]]:
    # Keyed by the clipped key: one statement may not upsert the same (trace, key) twice on PostgreSQL.
    rows = {clip(str(key), KEY_MAX): clean(str(value)) for key, value in items.items()}
    return [{"trace_id": trace_id, "key": key, "value": value} for key, value in rows.items()]
