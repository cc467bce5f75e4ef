from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from pathlib import Path

import pytest
import sqlalchemy as sa

from tracelake.exceptions import ConfigError, NotFoundError, StoreError
from tracelake.model import Experiment
from tracelake.store import SqlTraceStore
from tracelake.store.retention import (
    DAY_MS,
    RETENTION_TAG,
    RetentionWorker,
    enforce_retention,
    retention_days,
    set_retention,
)
from tracelake.store.sql.schema import payload_packs, trace_segments

from .builders import T0_MS, pack_names, simple_trace, trace_id

NOW_MS = T0_MS + 100 * DAY_MS


def days_ago(days: float) -> int:
    """`start_ms` (relative to T0_MS, as the builders take it) of a trace that started `days` before NOW_MS."""
    return int(NOW_MS - days * DAY_MS) - T0_MS


def write_aged(store: SqlTraceStore, experiment_id: str, ages: dict[int, float]) -> None:
    """Write one finished trace per (trace number, age in days)."""
    store.write_batches(experiment_id, [simple_trace(n, start_ms=days_ago(age)) for n, age in ages.items()])


def stored(store: SqlTraceStore, numbers: Sequence[int]) -> list[int]:
    found = {info.trace_id for info in store.get_trace_infos([trace_id(n) for n in numbers])}
    return [n for n in numbers if trace_id(n) in found]


def wait_until(condition: Callable[[], bool], timeout: float = 30.0) -> None:
    deadline = threading.Event()
    timer = threading.Timer(timeout, deadline.set)
    timer.start()
    try:
        while not condition():
            if deadline.wait(0.01):
                raise AssertionError(f"condition not met within {timeout} s")
    finally:
        timer.cancel()


class CountingStore:
    """The real store, with a record of every `delete_traces` call (to see the batches)."""

    def __init__(self, store: SqlTraceStore) -> None:
        self.store = store
        self.deletes: list[tuple[str, int | None, int]] = []

    def __getattr__(self, name: str) -> object:
        return getattr(self.store, name)

    def delete_traces(
        self,
        experiment_id: str,
        max_timestamp_ms: int | None = None,
        max_traces: int | None = None,
        trace_ids: Sequence[str] | None = None,
    ) -> int:
        deleted = self.store.delete_traces(experiment_id, max_timestamp_ms, max_traces, trace_ids)
        self.deletes.append((experiment_id, max_traces, deleted))
        return deleted


def test_expired_traces_are_deleted_in_batches(store: SqlTraceStore, artifact_root: Path) -> None:
    week = store.create_experiment("week", tags={RETENTION_TAG: "7"}).experiment_id
    month = store.create_experiment("month", tags={RETENTION_TAG: "30"}).experiment_id
    forever = store.create_experiment("forever").experiment_id
    write_aged(store, week, {1: 90, 2: 10, 3: 8, 4: 7.5, 5: 7.01, 6: 6.9, 7: 1, 8: 0})
    write_aged(store, month, {11: 31, 12: 29})
    write_aged(store, forever, {21: 99})
    counting = CountingStore(store)

    deleted = enforce_retention(counting, NOW_MS, batch_size=2)  # type: ignore[arg-type]

    assert deleted == {week: 5, month: 1}
    assert stored(store, range(1, 22)) == [6, 7, 8, 12, 21]
    assert [(experiment, size, count) for experiment, size, count in counting.deletes if experiment == week] == [
        (week, 2, 2),
        (week, 2, 2),
        (week, 2, 1),
    ]
    # The week's traces were written together: their pack stays while 6, 7 and 8 live in it.
    assert len(pack_names(artifact_root / week)) == 1
    assert [len(store.get_spans(trace_id(n))) for n in (6, 7, 8)] == [3, 3, 3]
    assert enforce_retention(store, NOW_MS) == {week: 0, month: 0}


def test_deleted_experiments_are_pruned_too(store: SqlTraceStore) -> None:
    experiment_id = store.create_experiment("old", tags={RETENTION_TAG: "1"}).experiment_id
    write_aged(store, experiment_id, {1: 2, 2: 0.5})
    store.delete_experiment(experiment_id)

    assert enforce_retention(store, NOW_MS) == {experiment_id: 1}
    assert stored(store, [1, 2]) == [2]


@pytest.mark.parametrize("value", ["0", "-3", "seven", "1.5", "nan", "inf", ""])
def test_invalid_settings_are_skipped_with_a_warning(
    store: SqlTraceStore, caplog: pytest.LogCaptureFixture, value: str
) -> None:
    broken = store.create_experiment("broken", tags={RETENTION_TAG: value}).experiment_id
    fine = store.create_experiment("fine", tags={RETENTION_TAG: "3.0"}).experiment_id
    write_aged(store, broken, {1: 50})
    write_aged(store, fine, {2: 50})

    with caplog.at_level(logging.WARNING, logger="tracelake.store.retention"):
        assert enforce_retention(store, NOW_MS) == {fine: 1}

    assert stored(store, [1, 2]) == [1]
    assert f"experiment {broken}: {RETENTION_TAG}={value!r}" in caplog.text


def test_set_and_clear_retention(store: SqlTraceStore) -> None:
    experiment = store.create_experiment("agent", tags={"team": "search"})

    updated = set_retention(store, experiment.experiment_id, 30)
    assert updated.tags == {"team": "search", RETENTION_TAG: "30"}
    assert retention_days(updated) == 30
    assert updated.last_update_time >= experiment.last_update_time
    assert store.get_experiment(experiment.experiment_id) == updated

    cleared = set_retention(store, experiment.experiment_id, None)
    assert cleared.tags == {"team": "search"}
    assert retention_days(cleared) is None
    assert set_retention(store, experiment.experiment_id, None) == cleared


@pytest.mark.parametrize("days", [0, -1, 1.5, True, "30"])
def test_invalid_retention_periods(store: SqlTraceStore, days: object) -> None:
    experiment_id = store.create_experiment("agent").experiment_id

    with pytest.raises(ConfigError, match="whole number of days"):
        set_retention(store, experiment_id, days)  # type: ignore[arg-type]
    assert store.get_experiment(experiment_id).tags == {}


def test_experiment_tags(store: SqlTraceStore) -> None:
    experiment_id = store.create_experiment("agent").experiment_id

    assert store.set_experiment_tag(experiment_id, "owner", "ana").tags == {"owner": "ana"}
    assert store.set_experiment_tag(experiment_id, "owner", "bo").tags == {"owner": "bo"}
    assert store.delete_experiment_tag(experiment_id, "owner").tags == {}
    with pytest.raises(NotFoundError, match="no tag 'owner'"):
        store.delete_experiment_tag(experiment_id, "owner")
    with pytest.raises(StoreError, match="tag key"):
        store.set_experiment_tag(experiment_id, "", "x")
    with pytest.raises(StoreError, match="NUL"):
        store.set_experiment_tag(experiment_id, "k", "a\x00b")
    with pytest.raises(NotFoundError):
        store.set_experiment_tag("999", "k", "v")
    store.delete_experiment(experiment_id)
    with pytest.raises(NotFoundError, match="deleted"):
        set_retention(store, experiment_id, 3)


def test_batch_size_must_be_positive(store: SqlTraceStore) -> None:
    with pytest.raises(ConfigError, match="batch_size"):
        enforce_retention(store, NOW_MS, batch_size=0)
    with pytest.raises(ConfigError, match="interval"):
        RetentionWorker(store, interval_s=0)


class InterleavingStore(CountingStore):
    """After each retention batch, lets ingest write once and waits until that write has committed."""

    def __init__(self, store: SqlTraceStore, permits: threading.Semaphore, writes: list[int]) -> None:
        super().__init__(store)
        self.permits = permits
        self.writes = writes

    def delete_traces(
        self,
        experiment_id: str,
        max_timestamp_ms: int | None = None,
        max_traces: int | None = None,
        trace_ids: Sequence[str] | None = None,
    ) -> int:
        deleted = super().delete_traces(experiment_id, max_timestamp_ms, max_traces, trace_ids)
        target = len(self.writes) + 5
        self.permits.release()
        wait_until(lambda: len(self.writes) >= target)
        return deleted


def test_ingest_goes_on_while_retention_deletes(database_url: str, artifact_root: Path) -> None:
    # Two stores over one database, like a server replica ingesting while another enforces retention:
    # between any two batches of the purge, a write of new traces commits.
    with (
        SqlTraceStore(database_url, str(artifact_root)) as ingest,
        SqlTraceStore(database_url, str(artifact_root)) as pruner,
    ):
        experiment_id = ingest.create_experiment("busy", tags={RETENTION_TAG: "30"}).experiment_id
        old = list(range(1, 601))
        for start in range(0, len(old), 200):
            write_aged(ingest, experiment_id, {n: 40 + n / 1000 for n in old[start : start + 200]})
        permits, retention_done = threading.Semaphore(0), threading.Event()
        written: list[int] = []
        errors: list[BaseException] = []

        def ingest_when_permitted() -> None:
            number = 10_000
            try:
                while permits.acquire() and not retention_done.is_set():
                    ingest.write_batches(experiment_id, [simple_trace(number + i, days_ago(0)) for i in range(5)])
                    written.extend(range(number, number + 5))
                    number += 5
            except BaseException as exc:
                errors.append(exc)

        writer = threading.Thread(target=ingest_when_permitted)
        writer.start()
        interleaving = InterleavingStore(pruner, permits, written)
        try:
            deleted = enforce_retention(interleaving, NOW_MS, batch_size=50)  # type: ignore[arg-type]
        finally:
            retention_done.set()
            permits.release()
            writer.join()

        assert errors == []
        assert deleted == {experiment_id: 600}
        assert [count for _, _, count in interleaving.deletes] == [50] * 12 + [0]
        assert stored(ingest, old) == []
        assert len(written) == 13 * 5
        assert stored(ingest, written) == written
        assert all(info.span_count == 3 for info in ingest.get_trace_infos([trace_id(n) for n in written]))
        assert all(len(ingest.get_spans(trace_id(n))) == 3 for n in written)
        # Every pack left holds a member of a kept trace; the packs of the deleted ones are gone.
        kept_packs = ingest.execute_read(
            sa.select(payload_packs.c.key).where(sa.exists().where(trace_segments.c.pack_id == payload_packs.c.pack_id))
        )
        assert pack_names(artifact_root / experiment_id) == sorted(key.split("/")[-1] for (key,) in kept_packs)


class FlakyStore(CountingStore):
    """Fails the first `failures` passes (listing experiments), like a database that is restarting."""

    def __init__(self, store: SqlTraceStore, failures: int) -> None:
        super().__init__(store)
        self.failures = failures

    def list_experiments(self, include_deleted: bool = False) -> list[Experiment]:
        if self.failures:
            self.failures -= 1
            raise StoreError("list experiments: the database system is starting up")
        return self.store.list_experiments(include_deleted)


def test_the_worker_prunes_in_the_background(store: SqlTraceStore) -> None:
    experiment_id = store.create_experiment("agent", tags={RETENTION_TAG: "7"}).experiment_id
    write_aged(store, experiment_id, {1: 8, 2: 9, 3: 10, 4: 1})
    worker = RetentionWorker(store, interval_s=0.01, batch_size=2, clock=lambda: NOW_MS)

    worker.start()
    worker.start()  # already running: a no-op
    try:
        wait_until(lambda: stored(store, [1, 2, 3, 4]) == [4])
        write_aged(store, experiment_id, {5: 30})  # arrives later: a later pass deletes it
        wait_until(lambda: stored(store, [4, 5]) == [4])
    finally:
        assert worker.stop()
    assert not worker.running
    assert worker.failures == 0


def test_the_worker_survives_failures(store: SqlTraceStore, caplog: pytest.LogCaptureFixture) -> None:
    experiment_id = store.create_experiment("agent", tags={RETENTION_TAG: "7"}).experiment_id
    write_aged(store, experiment_id, {1: 8})
    worker = RetentionWorker(FlakyStore(store, failures=2), interval_s=0.01, clock=lambda: NOW_MS)  # type: ignore[arg-type]

    with caplog.at_level(logging.ERROR, logger="tracelake.store.retention"):
        worker.start()
        try:
            wait_until(lambda: stored(store, [1]) == [])
        finally:
            assert worker.stop()

    assert worker.failures == 2
    assert caplog.text.count("retention pass failed") == 2
    assert "the database system is starting up" in caplog.text


def test_the_worker_stops_promptly_and_can_restart(store: SqlTraceStore) -> None:
    experiment_id = store.create_experiment("agent", tags={RETENTION_TAG: "7"}).experiment_id
    worker = RetentionWorker(store, interval_s=3600, clock=lambda: NOW_MS)
    assert worker.stop()  # never started: nothing to stop

    worker.start()
    wait_until(lambda: worker.passes == 1)  # the first pass runs at start, then it waits an hour
    assert worker.stop()
    assert worker.stop()

    write_aged(store, experiment_id, {1: 8})
    worker.start()
    wait_until(lambda: worker.passes == 2)
    assert worker.stop()
    assert stored(store, [1]) == []
