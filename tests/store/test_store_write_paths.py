"""The write path's shortcuts: new traces inserted whole, heads instead of folders, grouped inserts."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from tracelake.model import TraceState, WriteResult
from tracelake.store import SqlTraceStore
from tracelake.store.artifacts import TracePayloads
from tracelake.store.artifacts.payload import HEAD_KEY
from tracelake.store.sql import write
from tracelake.store.sql.schema import spans, traces

from .builders import make_batch, make_span, simple_trace, span_id, trace_id


def payload_uri(store: SqlTraceStore, trace: int) -> str:
    return str(store.execute_read(sa.select(traces.c.payload_uri).where(traces.c.trace_id == trace_id(trace)))[0][0])


def test_a_trace_written_at_once_is_one_file_and_no_folder(
    store: SqlTraceStore, experiment_id: str, artifact_root: Path
) -> None:
    store.write_batches(experiment_id, [simple_trace(1)])

    folder = artifact_root / experiment_id / "traces"
    assert sorted(path.name for path in folder.iterdir()) == [f"{trace_id(1)}.json.gz"]
    assert TracePayloads().object_keys(payload_uri(store, 1)) == [HEAD_KEY]
    assert store.get_spans(trace_id(1)) == simple_trace(1).spans


def test_later_spans_go_to_the_trace_folder_and_compaction_folds_the_head(
    store: SqlTraceStore, experiment_id: str, artifact_root: Path
) -> None:
    store.write_batches(experiment_id, [make_batch([make_span(1, 2, 1, 5, 6)])])
    store.write_batches(experiment_id, [make_batch([make_span(1, 3, 1, 7, 8)])])
    uri = payload_uri(store, 1)
    keys = TracePayloads().object_keys(uri)
    assert keys[0] == HEAD_KEY
    assert [key[:4] for key in keys[1:]] == ["seg-"]

    store.write_batches(experiment_id, [make_batch([make_span(1, 1, None, 0, 10)])])

    (compacted,) = TracePayloads().object_keys(uri)
    assert compacted.startswith("spans-")
    assert not (artifact_root / experiment_id / "traces" / f"{trace_id(1)}.json.gz").exists()
    assert [s.span_id for s in store.get_spans(trace_id(1))] == [span_id(1), span_id(2), span_id(3)]


def test_deleting_a_trace_deletes_its_head_and_folder(
    store: SqlTraceStore, experiment_id: str, artifact_root: Path
) -> None:
    store.write_batches(experiment_id, [simple_trace(1), simple_trace(2)])
    store.write_batches(experiment_id, [make_batch([make_span(1, 9, 1, 50, 60)])])

    assert store.delete_traces(experiment_id, trace_ids=[trace_id(1)]) == 1

    folder = artifact_root / experiment_id / "traces"
    assert sorted(path.name for path in folder.iterdir()) == [f"{trace_id(2)}.json.gz"]


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
