"""The write path's shortcuts: new traces inserted whole, one payload pack per write, grouped inserts."""

from __future__ import annotations

import gzip
import json
import time
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from tracelake.model import TraceState, WriteResult
from tracelake.store import SqlTraceStore
from tracelake.store.artifacts import TracePayloads
from tracelake.store.artifacts.packs import PACK_FOLDER
from tracelake.store.sql import write
from tracelake.store.sql.schema import payload_packs, spans, trace_segments, traces

from .builders import make_batch, make_span, simple_trace, span_id, trace_id


def payload_uri(store: SqlTraceStore, trace: int) -> str:
    return str(store.execute_read(sa.select(traces.c.payload_uri).where(traces.c.trace_id == trace_id(trace)))[0][0])


def pack_files(artifact_root: Path, experiment_id: str) -> list[Path]:
    folder = artifact_root / experiment_id / PACK_FOLDER
    return sorted(folder.iterdir()) if folder.exists() else []


def members_of(store: SqlTraceStore, trace: int) -> list[tuple[int, int, int]]:
    """(pack id, byte offset, byte length) of each member holding spans of the trace."""
    columns = (trace_segments.c.pack_id, trace_segments.c.byte_offset, trace_segments.c.byte_length)
    query = sa.select(*columns).where(trace_segments.c.trace_id == trace_id(trace)).order_by(trace_segments.c.pack_id)
    return [(row[0], row[1], row[2]) for row in store.execute_read(query)]


def test_one_write_is_one_pack_with_a_member_per_trace(
    store: SqlTraceStore, experiment_id: str, artifact_root: Path
) -> None:
    store.write_batches(experiment_id, [simple_trace(n) for n in range(1, 4)])

    (pack,) = pack_files(artifact_root, experiment_id)
    assert pack.name.endswith(".pack")
    assert not (artifact_root / experiment_id / "traces").exists()  # no object per trace any more
    data = pack.read_bytes()
    for n in range(1, 4):
        ((_, offset, length),) = members_of(store, n)
        # Each member is a gzip stream of its own, readable without the rest of the pack.
        member = json.loads(gzip.decompress(data[offset : offset + length]))
        assert [span["span_id"] for span in member] == [span.span_id for span in simple_trace(n).spans]
        assert store.get_spans(trace_id(n)) == simple_trace(n).spans
    # The whole pack is a valid multi-member gzip file: `gzip -dc` shows every member's JSON.
    assert gzip.decompress(data).count(b'"span_id"') == 9


def test_later_spans_add_members_and_the_root_compacts_them(
    store: SqlTraceStore, experiment_id: str, artifact_root: Path
) -> None:
    store.write_batches(experiment_id, [make_batch([make_span(1, 2, 1, 5, 6)])])
    store.write_batches(experiment_id, [make_batch([make_span(1, 3, 1, 7, 8)])])
    assert len(members_of(store, 1)) == 2
    assert len(pack_files(artifact_root, experiment_id)) == 2

    store.write_batches(experiment_id, [make_batch([make_span(1, 1, None, 0, 10)])])

    (member,) = members_of(store, 1)
    # The three packs held nothing else: only the compacted one is left.
    assert len(pack_files(artifact_root, experiment_id)) == 1
    assert [s.span_id for s in store.get_spans(trace_id(1))] == [span_id(1), span_id(2), span_id(3)]
    assert member[1] == 0


def test_deleting_traces_deletes_the_packs_no_trace_needs(
    store: SqlTraceStore, experiment_id: str, artifact_root: Path
) -> None:
    store.write_batches(experiment_id, [simple_trace(1), simple_trace(2)])  # pack A: traces 1 and 2
    store.write_batches(experiment_id, [make_batch([make_span(1, 9, 1, 50, 60)])])  # a late child of 1
    # Trace 1 was compacted into a pack of its own; the late child's pack went; A still holds trace 2.
    assert len(pack_files(artifact_root, experiment_id)) == 2

    assert store.delete_traces(experiment_id, trace_ids=[trace_id(1)]) == 1
    (left,) = pack_files(artifact_root, experiment_id)
    assert store.get_spans(trace_id(2)) == simple_trace(2).spans

    assert store.delete_traces(experiment_id, trace_ids=[trace_id(2)]) == 1
    assert not left.exists()
    assert pack_files(artifact_root, experiment_id) == []
    assert store.execute_read(sa.select(sa.func.count()).select_from(payload_packs)) == [(0,)]


def test_traces_written_before_packs_stay_readable_and_deletable(
    store: SqlTraceStore, experiment_id: str, artifact_root: Path
) -> None:
    # A trace as written before migration 0004: its spans in a per-trace object, payload_format 1.
    store.write_batches(experiment_id, [simple_trace(1)])
    uri = payload_uri(store, 1)
    legacy = TracePayloads()
    legacy.write_segment(uri, simple_trace(1).spans, first=True)
    with store.engine.begin() as connection:
        connection.execute(sa.delete(trace_segments))
        connection.execute(sa.delete(payload_packs))
        connection.execute(sa.update(traces).values(payload_format=1))
    for pack in pack_files(artifact_root, experiment_id):
        pack.unlink()
    assert store.get_spans(trace_id(1)) == simple_trace(1).spans

    # Spans arriving later go to a pack, and reading unions both.
    store.write_batches(experiment_id, [make_batch([make_span(1, 9, 1, 50, 60)])])
    assert [s.span_id for s in store.get_spans(trace_id(1))] == [span.span_id for span in simple_trace(1).spans] + [
        span_id(9)
    ]

    assert store.delete_traces(experiment_id, trace_ids=[trace_id(1)]) == 1
    assert not (artifact_root / experiment_id / "traces" / f"{trace_id(1)}.json.gz").exists()
    assert pack_files(artifact_root, experiment_id) == []


def test_orphan_packs_of_crashed_writes_are_swept(
    store: SqlTraceStore, experiment_id: str, artifact_root: Path
) -> None:
    store.write_batches(experiment_id, [simple_trace(1)])
    folder = artifact_root / experiment_id / PACK_FOLDER
    old_orphan = folder / f"{time.time_ns() - 2 * 3600 * 10**9:020d}-dead.pack"
    young_orphan = folder / f"{time.time_ns():020d}-inflight.pack"  # its write may still commit
    old_orphan.write_bytes(b"x")
    young_orphan.write_bytes(b"x")

    assert store.sweep_orphan_packs(min_age_s=3600) == 1

    assert not old_orphan.exists()
    assert young_orphan.exists()
    assert store.get_spans(trace_id(1)) == simple_trace(1).spans


def test_reading_many_traces_at_once(store: SqlTraceStore, experiment_id: str) -> None:
    store.write_batches(experiment_id, [simple_trace(n) for n in range(1, 30)])
    store.write_batches(experiment_id, [make_batch([make_span(5, 9, 1, 50, 60)])])

    found = store.get_spans_of([trace_id(n) for n in range(1, 31)])

    assert sorted(found) == [trace_id(n) for n in range(1, 30)]  # 30 does not exist
    assert found[trace_id(7)] == simple_trace(7).spans
    assert len(found[trace_id(5)]) == 4
    # The bulk readers' form: the same spans as their stored dicts, in the same order.
    as_dicts = store.get_span_dicts_of([trace_id(n) for n in range(1, 31)])
    assert {key: [span.to_dict() for span in spans] for key, spans in found.items()} == as_dicts


def test_many_new_traces_in_one_call_are_inserted_in_groups(store: SqlTraceStore, experiment_id: str) -> None:
    # 77 traces and 231 spans: groups of 64 rows and the halves that make up the rest.
    result = store.write_batches(experiment_id, [simple_trace(n, start_ms=n) for n in range(1, 78)])

    assert result == WriteResult(written_spans=231, duplicate_spans=0, traces=77)
    assert store.execute_read(sa.select(sa.func.count()).select_from(spans))[0][0] == 231
    infos = store.get_trace_infos([trace_id(n) for n in range(1, 78)])
    assert [(info.span_count, info.state, info.name) for info in infos] == [(3, TraceState.OK, "root")] * 77
    assert all(len(store.get_spans(trace_id(n))) == 3 for n in (1, 64, 65, 77))


def test_a_new_trace_inserted_by_someone_else_meanwhile_is_merged(
    store: SqlTraceStore, experiment_id: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # PostgreSQL: another writer may insert a trace between our select and our insert. Here the
    # select is made to miss the stored trace: the insert then yields to the stored row, which is
    # locked and merged like any stored trace. (On SQLite the write lock rules this case out.)
    if store.dialect_name != "postgresql":
        pytest.skip("only concurrent PostgreSQL writers can race on a new trace")
    store.write_batches(experiment_id, [make_batch([make_span(1, 2, 1, 5, 6, tokens=(3, 4))], counted=[2])])
    real = write._select_for_update
    calls: list[int] = []

    def missing_at_first(connection: Any, ids: Any) -> dict[str, dict[str, Any]]:
        calls.append(1)
        return {} if len(calls) == 1 else real(connection, ids)

    monkeypatch.setattr(write, "_select_for_update", missing_at_first)
    batch = make_batch([make_span(1, 1, None, 0, 10), make_span(1, 2, 1, 5, 6, tokens=(3, 4))], counted=[2])
    result = store.write_batches(experiment_id, [batch])

    assert len(calls) == 2  # the select after the insert found the stored row
    assert result == WriteResult(written_spans=1, duplicate_spans=1, traces=1)
    info = store.get_trace_info(trace_id(1))
    assert (info.span_count, info.state, info.execution_duration) == (2, TraceState.OK, 10)
    assert info.token_usage is not None and info.token_usage.total_tokens == 7
    assert [s.span_id for s in store.get_spans(trace_id(1))] == [span_id(1), span_id(2)]


def test_a_call_mixing_new_and_stored_traces_gives_each_member_its_own_spans(
    store: SqlTraceStore, experiment_id: str, artifact_root: Path
) -> None:
    # New traces' members are encoded before the transaction, stored traces' inside it: one pack
    # holds both kinds, each at the range recorded for its trace.
    root = make_span(2, 1, None, 0, 10)
    store.write_batches(experiment_id, [make_batch([root]), simple_trace(3)])
    later = make_span(2, 2, 1, 5, 6)
    store.write_batches(experiment_id, [simple_trace(1), make_batch([later]), simple_trace(3), simple_trace(4)])

    newest = pack_files(artifact_root, experiment_id)[-1].read_bytes()
    newest_id = max(pack for n in (1, 2, 4) for pack, _, _ in members_of(store, n))
    # Trace 2's root is stored, so its earlier member is folded into the one this call writes.
    for n, expected in ((1, simple_trace(1).spans), (2, [root, later]), (4, simple_trace(4).spans)):
        (_, offset, length) = next(member for member in members_of(store, n) if member[0] == newest_id)
        member = json.loads(gzip.decompress(newest[offset : offset + length]))
        assert [span["span_id"] for span in member] == [span.span_id for span in expected]
    assert all(pack != newest_id for pack, _, _ in members_of(store, 3))  # only duplicates: no member
    assert [span.span_id for span in store.get_spans(trace_id(2))] == [span_id(1), span_id(2)]
    assert store.get_spans(trace_id(4)) == simple_trace(4).spans
