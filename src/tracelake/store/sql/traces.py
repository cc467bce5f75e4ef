"""Trace rows: read summaries with their tags and metadata, change tags, choose and delete traces."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import Connection, Table, delete, select, update

from tracelake.exceptions import ConfigError, InvalidArgumentError, NotFoundError
from tracelake.model import TraceInfo
from tracelake.store.sql.dialect import chunks, upsert
from tracelake.store.sql.rows import KEY_MAX, clean, trace_info_from_row
from tracelake.store.sql.schema import trace_metadata, trace_tags, traces


def load_trace_infos(connection: Connection, trace_ids: Sequence[str]) -> dict[str, TraceInfo]:
    """Return the summaries of the traces among `trace_ids` that exist, by trace id."""
    infos: dict[str, TraceInfo] = {}
    unique = list(dict.fromkeys(trace_ids))
    for chunk in chunks(unique):
        rows = list(connection.execute(select(traces).where(traces.c.trace_id.in_(chunk))).mappings())
        if not rows:
            continue
        found = [row["trace_id"] for row in rows]
        tags = _key_values(connection, trace_tags, found)
        metadata = _key_values(connection, trace_metadata, found)
        for row in rows:
            trace_id = row["trace_id"]
            infos[trace_id] = trace_info_from_row(row, tags.get(trace_id), metadata.get(trace_id))
    return infos


def _key_values(connection: Connection, table: Table, trace_ids: Sequence[str]) -> dict[str, dict[str, str]]:
    values: dict[str, dict[str, str]] = {}
    query = select(table.c.trace_id, table.c.key, table.c.value).where(table.c.trace_id.in_(trace_ids))
    for trace_id, key, value in connection.execute(query):
        values.setdefault(trace_id, {})[key] = value
    return values


def payload_uri_of(connection: Connection, trace_id: str) -> str:
    """Return where the trace's payload objects live; raise `NotFoundError` if there is no trace."""
    uri = connection.execute(select(traces.c.payload_uri).where(traces.c.trace_id == trace_id)).scalar_one_or_none()
    if uri is None:
        raise NotFoundError(f"no trace with id {trace_id!r}")
    return str(uri)


def _touch(connection: Connection, trace_id: str, now_ms: int) -> None:
    # The bump lets incremental consumers (the archive sync) see tag changes; it also tells us
    # whether the trace exists.
    result = connection.execute(update(traces).where(traces.c.trace_id == trace_id).values(last_update_time=now_ms))
    if result.rowcount == 0:
        raise NotFoundError(f"no trace with id {trace_id!r}")


def set_tag(connection: Connection, trace_id: str, key: str, value: str, now_ms: int) -> None:
    """Set one tag of a trace (overwriting it)."""
    if not isinstance(key, str) or not key or len(key) > KEY_MAX:
        raise InvalidArgumentError(f"a tag key must be a string of 1 to {KEY_MAX} characters, not {key!r}")
    _touch(connection, trace_id, now_ms)
    upsert(
        connection,
        trace_tags,
        [{"trace_id": trace_id, "key": clean(key), "value": clean(str(value))}],
        ("trace_id", "key"),
        ("value",),
    )


def delete_tag(connection: Connection, trace_id: str, key: str, now_ms: int) -> None:
    """Delete one tag of a trace; raise `NotFoundError` if the trace or the tag does not exist."""
    _touch(connection, trace_id, now_ms)
    result = connection.execute(delete(trace_tags).where(trace_tags.c.trace_id == trace_id, trace_tags.c.key == key))
    if result.rowcount == 0:
        raise NotFoundError(f"trace {trace_id!r} has no tag {key!r}")


def check_delete_arguments(
    max_timestamp_ms: int | None, max_traces: int | None, trace_ids: Sequence[str] | None
) -> None:
    """Apply MLflow's rules for `delete_traces` arguments; raise `ConfigError` naming the culprit."""
    if max_timestamp_ms is None and trace_ids is None:
        raise ConfigError("delete_traces needs max_timestamp_ms or trace_ids")
    if max_timestamp_ms is not None and trace_ids is not None:
        raise ConfigError("delete_traces takes only one of max_timestamp_ms and trace_ids")
    if trace_ids is not None and max_traces is not None:
        raise ConfigError("delete_traces: max_traces cannot be combined with trace_ids")
    if max_traces is not None and (isinstance(max_traces, bool) or not isinstance(max_traces, int) or max_traces <= 0):
        raise ConfigError(f"delete_traces: max_traces must be a positive integer, not {max_traces!r}")


def select_for_deletion(
    connection: Connection,
    experiment_id: int,
    max_timestamp_ms: int | None,
    max_traces: int | None,
    trace_ids: Sequence[str] | None,
) -> list[tuple[str, str, bool]]:
    """Return (trace id, payload URI, has per-trace objects) of the traces that `delete_traces` removes.

    By timestamp: traces whose request time is at most `max_timestamp_ms`, oldest first, at most
    `max_traces` of them. By id: those of `trace_ids` that are in the experiment.
    """
    columns = (traces.c.trace_id, traces.c.payload_uri, traces.c.payload_format)
    in_experiment = traces.c.experiment_id == experiment_id
    if trace_ids is not None:
        found: list[tuple[str, str, bool]] = []
        for chunk in chunks(list(dict.fromkeys(trace_ids))):
            query = select(*columns).where(in_experiment, traces.c.trace_id.in_(chunk))
            found.extend((row[0], row[1], row[2] == 1) for row in connection.execute(query))
        return found
    query = (
        select(*columns)
        .where(in_experiment, traces.c.request_time <= max_timestamp_ms)
        .order_by(traces.c.request_time, traces.c.trace_id)
    )
    if max_traces is not None:
        query = query.limit(max_traces)
    return [(row[0], row[1], row[2] == 1) for row in connection.execute(query)]


def delete_rows(connection: Connection, trace_ids: Sequence[str]) -> None:
    """Delete trace rows; their spans, tags and metadata go with them (ON DELETE CASCADE)."""
    for chunk in chunks(trace_ids):
        connection.execute(delete(traces).where(traces.c.trace_id.in_(chunk)))
