"""Exactly once through crashes and concurrent syncs; bad locations and tampered tables."""

from __future__ import annotations

import multiprocessing
import shutil
import threading
import time
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest
from deltalake import DeltaTable, write_deltalake
from sqlalchemy import select, update

from store.builders import trace_id
from store.s3server import moto_s3_server, new_bucket, raw_client, use_s3_server
from tracelake.exceptions import StoreError
from tracelake.monitoring.archive import settings as st
from tracelake.monitoring.archive.delta import ArchiveTables, storage_options
from tracelake.monitoring.archive.job import ArchiveJob
from tracelake.monitoring.archive.schema import ArchiveSchemaError
from tracelake.monitoring.archive.sync import run_sync, sync_tables
from tracelake.monitoring.worker import Worker
from tracelake.store import SqlTraceStore
from tracelake.store.sql.schema import archive_state, payload_packs, trace_segments, traces

from .conftest import agent_trace, feedback, keys, read


def _setup(store: SqlTraceStore, lake: Path | str, traces: int = 30, name: str = "agent", first: int = 1) -> str:
    experiment_id = store.create_experiment(name).experiment_id
    st.enable(store.engine, experiment_id, str(lake), 60)
    for start in range(first - 1, first - 1 + traces, 10):
        store.write_batches(experiment_id, [agent_trace(n) for n in range(start + 1, start + 11)])
    store.add_assessment(feedback(trace_id(first), "helpful", True))
    return experiment_id


def _assert_exactly_once(lake: Path | str, traces: int, options: dict[str, str] | None = None, first: int = 1) -> None:
    trace_rows = read(lake, "traces", options)
    assert keys(trace_rows, "trace_id") == [(trace_id(n),) for n in range(first, first + traces)]
    spans = read(lake, "spans", options)
    assert len(spans) == 3 * traces == len(set(keys(spans, "trace_id", "span_id")))
    assert len(read(lake, "assessments", options)) == 1


class _CrashingTables(ArchiveTables):
    """Tables whose `crash_on`-th write dies: before its commit (leaving a data file), or after it."""

    def __init__(self, location: str, experiment_id: str, crash_on: int, *, after_commit: bool) -> None:
        super().__init__(location, experiment_id)
        self.writes, self.crash_on, self.after_commit = 0, crash_on, after_commit

    def write(self, name: str, rows: pa.Table, *, merge: bool, version: int) -> None:
        self.writes += 1
        if self.writes == self.crash_on and not self.after_commit:
            # A killed writer leaves its Parquet file with no log entry: readers must never see it.
            table = self.open(name)
            if table is not None and table.file_uris():
                shutil.copy(table.file_uris()[0], Path(self.uri(name)) / "part-00000-left-by-a-crash.parquet")
            raise SystemExit("killed before the commit")
        super().write(name, rows, merge=merge, version=version)
        if self.writes == self.crash_on:
            raise SystemExit("killed after the commit")


@pytest.mark.parametrize("after_commit", [False, True], ids=["before-commit", "after-commit"])
@pytest.mark.parametrize("crash_on", [1, 2, 3, 4, 6])
def test_a_sync_killed_anywhere_then_rerun_is_exactly_once(
    store: SqlTraceStore, tmp_path: Path, crash_on: int, after_commit: bool
) -> None:
    lake = tmp_path / "lake"
    experiment_id = _setup(store, lake)
    # The second sync has two batches (3 writes each): writes 1..6 cover every table of both.
    sync_tables(store, experiment_id, ArchiveTables(str(lake), experiment_id), batch_traces=10, settle_ms=0)
    store.write_batches(experiment_id, [agent_trace(n) for n in range(31, 51)])
    store.add_assessment(feedback(trace_id(40), "helpful", False))

    crashing = _CrashingTables(str(lake), experiment_id, crash_on, after_commit=after_commit)
    with pytest.raises(SystemExit):
        sync_tables(store, experiment_id, crashing, batch_traces=10, settle_ms=0)
    sync_tables(store, experiment_id, ArchiveTables(str(lake), experiment_id), batch_traces=10, settle_ms=0)

    trace_rows = read(lake, "traces")
    assert keys(trace_rows, "trace_id") == [(trace_id(n),) for n in range(1, 51)]
    spans = read(lake, "spans")
    assert len(spans) == 150 == len(set(keys(spans, "trace_id", "span_id")))
    assert len(read(lake, "assessments")) == 2


def test_a_crash_before_the_database_records_the_sync_loses_and_repeats_nothing(
    store: SqlTraceStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    lake = tmp_path / "lake"
    experiment_id = _setup(store, lake)
    real_finish = st.finish

    def killed(*args: Any, **kwargs: Any) -> None:
        raise SystemExit("killed after the Delta commits")

    monkeypatch.setattr(st, "finish", killed)
    with pytest.raises(SystemExit):
        run_sync(store, experiment_id, settle_ms=0)
    monkeypatch.setattr(st, "finish", real_finish)
    # The dead worker's lease still stands: a second sync waits for it to lapse.
    assert run_sync(store, experiment_id, settle_ms=0).skipped
    with store.engine.begin() as connection:
        connection.execute(update(archive_state).values(lease_expires=0))

    again = run_sync(store, experiment_id, settle_ms=0)

    assert again.traces == 0  # the Delta logs already had the batch
    _assert_exactly_once(lake, 30)


def _sync_in_child(database_url: str, artifacts: str, experiment_id: str) -> None:
    with SqlTraceStore(database_url, artifacts) as store:
        run_sync(store, experiment_id, settle_ms=0, batch_traces=3)


def test_a_killed_sync_process_is_finished_by_the_next_one(tmp_path: Path) -> None:
    lake = tmp_path / "lake"
    database_url = f"sqlite:///{tmp_path / 'tracelake.db'}"
    with SqlTraceStore(database_url, str(tmp_path / "artifacts")) as store:
        experiment_id = _setup(store, lake, traces=300)
    child = multiprocessing.get_context("spawn").Process(
        target=_sync_in_child, args=(database_url, str(tmp_path / "artifacts"), experiment_id)
    )
    child.start()
    log = lake / "spans" / "_delta_log"
    deadline = time.monotonic() + 60
    while not (log.exists() and len(list(log.glob("*.json"))) >= 5):
        assert time.monotonic() < deadline and child.is_alive(), "the child never got going"
        time.sleep(0.01)
    child.kill()
    child.join()

    with SqlTraceStore(database_url, str(tmp_path / "artifacts")) as store:
        with store.engine.begin() as connection:
            connection.execute(update(archive_state).values(lease_expires=0))  # as if its lease lapsed
        run_sync(store, experiment_id, settle_ms=0, batch_traces=50)
    _assert_exactly_once(lake, 300)


def test_concurrent_syncs_never_write_a_batch_twice(store: SqlTraceStore, tmp_path: Path) -> None:
    lake = tmp_path / "lake"
    experiment_id = _setup(store, lake, traces=60)
    results: list[Any] = []
    errors: list[BaseException] = []
    start = threading.Barrier(4)

    def sync() -> None:
        start.wait()
        try:
            results.append(run_sync(store, experiment_id, settle_ms=0, batch_traces=7))
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=sync) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert not errors
    assert sum(result.traces for result in results) == 60  # each trace written by exactly one sync
    _assert_exactly_once(lake, 60)


def test_two_workers_share_experiments(store: SqlTraceStore, tmp_path: Path) -> None:
    ids = [_setup(store, tmp_path / f"lake{n}", traces=10, name=f"agent{n}", first=100 * n + 1) for n in range(4)]
    jobs = [ArchiveJob(store, settle_ms=0) for _ in range(2)]
    threads = [threading.Thread(target=job.run_due, args=(0,)) for job in jobs]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for n, experiment_id in enumerate(ids):
        state = st.get_state(store.engine, experiment_id)
        assert state is not None and state.last_status == "ok" and state.traces_rows == 10
        _assert_exactly_once(tmp_path / f"lake{n}", 10, first=100 * n + 1)


def test_an_unwritable_location_is_reported_and_the_worker_goes_on(store: SqlTraceStore, tmp_path: Path) -> None:
    (tmp_path / "a-file").write_text("not a folder")
    bad = _setup(store, tmp_path / "a-file" / "lake", traces=10, name="bad")
    good = _setup(store, tmp_path / "lake", traces=10, name="good", first=101)

    Worker([ArchiveJob(store, settle_ms=0)]).run_once()

    state = st.get_state(store.engine, bad)
    assert state is not None and state.last_status == "error" and state.last_error
    assert state.lease_owner is None  # released: the next due time retries
    assert len(store.get_trace_infos([trace_id(n) for n in range(1, 11)])) == 10  # nothing lost
    good_state = st.get_state(store.engine, good)
    assert good_state is not None and good_state.last_status == "ok"
    _assert_exactly_once(tmp_path / "lake", 10, first=101)


def test_a_table_changed_by_someone_else_is_a_clear_error(store: SqlTraceStore, tmp_path: Path) -> None:
    lake = tmp_path / "lake"
    experiment_id = _setup(store, lake, traces=10)
    run_sync(store, experiment_id, settle_ms=0)
    # Someone rewrites the spans table with a schema of their own.
    tampered = pa.table({"x": [1], "date": pa.array([0], pa.date32())})
    write_deltalake(str(lake / "spans"), tampered, mode="overwrite", schema_mode="overwrite", partition_by=["date"])
    store.write_batches(experiment_id, [agent_trace(11)])

    with pytest.raises(ArchiveSchemaError, match="'spans' has a schema tracelake did not write"):
        run_sync(store, experiment_id, settle_ms=0)

    state = st.get_state(store.engine, experiment_id)
    assert state is not None and state.last_status == "error"
    assert "column 'trace_id' is missing" in (state.last_error or "")
    assert len(read(lake, "traces")) == 10  # nothing written past the bad table, nothing lost
    assert store.get_trace_info(trace_id(11)).span_count == 3
    assert DeltaTable(str(lake / "spans")).to_pyarrow_table().num_rows == 1


def test_archive_on_s3(store: SqlTraceStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with moto_s3_server() as endpoint:
        use_s3_server(monkeypatch, tmp_path, endpoint)
        bucket = new_bucket(raw_client(endpoint))
        location = f"s3://{bucket}/archive/agent"
        experiment_id = _setup(store, location, traces=20)
        run_sync(store, experiment_id, settle_ms=0, batch_traces=8)
        store.write_batches(experiment_id, [agent_trace(n, extra_children=0) for n in range(21, 31)])
        run_sync(store, experiment_id, settle_ms=0)

        _assert_exactly_once(location, 30, storage_options(location))


def test_a_damaged_payload_stops_the_sync_at_its_batch_naming_it(store: SqlTraceStore, tmp_path: Path) -> None:
    lake = tmp_path / "lake"
    experiment_id = _setup(store, lake, traces=20)
    with store.engine.begin() as connection:  # two batches of ten: traces 1-10, then 11-20
        for first, stamp in ((1, 1000), (11, 2000)):
            ids = [trace_id(n) for n in range(first, first + 10)]
            connection.execute(update(traces).where(traces.c.trace_id.in_(ids)).values(last_update_time=stamp))
        location, key, offset, length = connection.execute(
            select(
                payload_packs.c.location,
                payload_packs.c.key,
                trace_segments.c.byte_offset,
                trace_segments.c.byte_length,
            )
            .join(payload_packs, payload_packs.c.pack_id == trace_segments.c.pack_id)
            .where(trace_segments.c.trace_id == trace_id(15))
        ).one()
    pack = Path(location) / key
    data = bytearray(pack.read_bytes())
    data[offset + 12 : offset + length - 8] = b"\xff" * (length - 20)  # the member's compressed body
    pack.write_bytes(bytes(data))

    with pytest.raises(StoreError, match=f"damaged payload member at {offset}\\+{length} of .*{key}"):
        run_sync(store, experiment_id, settle_ms=0, batch_traces=10)

    assert keys(read(lake, "traces"), "trace_id") == [(trace_id(n),) for n in range(1, 11)]  # the batch before
    assert len(read(lake, "spans")) == 30
    state = st.get_state(store.engine, experiment_id)
    assert state is not None and state.last_status == "error" and "damaged payload member" in (state.last_error or "")
