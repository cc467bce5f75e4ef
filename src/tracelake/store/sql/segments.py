"""The index of payload packs: which member of which pack holds spans of which trace.

Packs are written once; a trace's segment rows are added by each write that brings it spans, and
removed when the trace is deleted or its members are compacted into one. A pack whose last segment
row is gone is garbage: `release_packs` deletes its row and returns it for the object to be deleted
after the commit.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from sqlalchemy import Connection, delete, exists, select

from tracelake.store.artifacts.packs import MemberRange
from tracelake.store.sql.dialect import chunks
from tracelake.store.sql.schema import payload_packs, trace_segments, traces


@dataclass(frozen=True, slots=True)
class Segment:
    """One member of a pack, holding spans of one trace."""

    pack_id: int
    location: str
    key: str
    member: MemberRange


@dataclass(frozen=True, slots=True)
class PayloadIndex:
    """Where a trace's spans are: its per-trace objects (format 1 only) and its pack members."""

    payload_uri: str
    legacy_objects: bool
    segments: tuple[Segment, ...]


def load_payload_index(connection: Connection, trace_ids: Sequence[str]) -> dict[str, PayloadIndex]:
    """Return where the spans of each existing trace of `trace_ids` are (missing traces are left out)."""
    found: dict[str, PayloadIndex] = {}
    for chunk in chunks(list(dict.fromkeys(trace_ids))):
        heads = connection.execute(
            select(traces.c.trace_id, traces.c.payload_uri, traces.c.payload_format).where(traces.c.trace_id.in_(chunk))
        ).all()
        if not heads:
            continue
        by_trace = _segments(connection, [row[0] for row in heads])
        for trace_id, payload_uri, payload_format in heads:
            found[trace_id] = PayloadIndex(payload_uri, payload_format == 1, tuple(by_trace.get(trace_id, ())))
    return found


def members_by_pack(index: Mapping[str, PayloadIndex]) -> dict[tuple[str, str], list[tuple[str, MemberRange]]]:
    """Group the traces' members by the pack holding them: (location, key) -> [(trace id, range)].

    Readers open each pack once for all the members they need from it.
    """
    by_pack: dict[tuple[str, str], list[tuple[str, MemberRange]]] = {}
    for trace_id, where in index.items():
        for segment in where.segments:
            by_pack.setdefault((segment.location, segment.key), []).append((trace_id, segment.member))
    return by_pack


def _segments(connection: Connection, trace_ids: Sequence[str]) -> dict[str, list[Segment]]:
    query = (
        select(
            trace_segments.c.trace_id,
            trace_segments.c.pack_id,
            trace_segments.c.byte_offset,
            trace_segments.c.byte_length,
            payload_packs.c.location,
            payload_packs.c.key,
        )
        .join(payload_packs, payload_packs.c.pack_id == trace_segments.c.pack_id)
        .where(trace_segments.c.trace_id.in_(trace_ids))
        .order_by(trace_segments.c.trace_id, trace_segments.c.pack_id)
    )
    by_trace: dict[str, list[Segment]] = {}
    for trace_id, pack_id, offset, length, location, key in connection.execute(query):
        by_trace.setdefault(trace_id, []).append(Segment(pack_id, location, key, MemberRange(offset, length)))
    return by_trace


def pack_ids_of(connection: Connection, trace_ids: Sequence[str]) -> set[int]:
    """Return the packs holding members of these traces."""
    found: set[int] = set()
    for chunk in chunks(trace_ids):
        query = select(trace_segments.c.pack_id).where(trace_segments.c.trace_id.in_(chunk)).distinct()
        found.update(connection.execute(query).scalars())
    return found


def delete_segments(connection: Connection, trace_id: str, pack_ids: Iterable[int]) -> int:
    """Delete the segment rows of one trace in these packs; return how many there were."""
    ids = list(pack_ids)
    if not ids:
        return 0
    result = connection.execute(
        delete(trace_segments).where(trace_segments.c.trace_id == trace_id, trace_segments.c.pack_id.in_(ids))
    )
    return int(result.rowcount or 0)


def release_packs(connection: Connection, pack_ids: Iterable[int]) -> list[tuple[str, str]]:
    """Delete the rows of those packs that no segment refers to; return their (location, key).

    Packs only ever lose segments (nothing adds a member to an existing pack), so a pack found
    empty here stays empty: its object can be deleted after the commit.
    """
    released: list[tuple[str, str]] = []
    for chunk in chunks(sorted(set(pack_ids))):
        referenced = exists().where(trace_segments.c.pack_id == payload_packs.c.pack_id)
        empty = connection.execute(
            select(payload_packs.c.pack_id, payload_packs.c.location, payload_packs.c.key).where(
                payload_packs.c.pack_id.in_(chunk), ~referenced
            )
        ).all()
        if empty:
            connection.execute(delete(payload_packs).where(payload_packs.c.pack_id.in_([row[0] for row in empty])))
            released.extend((row[1], row[2]) for row in empty)
    return released


def known_pack_keys(connection: Connection, location: str, keys: Sequence[str]) -> set[str]:
    """Return which of `keys` under `location` have a pack row (the rest are orphans of failed writes)."""
    found: set[str] = set()
    for chunk in chunks(keys):
        query = select(payload_packs.c.key).where(payload_packs.c.location == location, payload_packs.c.key.in_(chunk))
        found.update(connection.execute(query).scalars())
    return found
