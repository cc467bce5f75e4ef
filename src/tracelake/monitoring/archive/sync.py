"""One archive sync of one experiment: copy what changed since the watermark into the Delta tables.

Batches are traces ordered by `last_update_time` (every change to a trace — new spans, tags,
assessments — bumps it), cut at a millisecond boundary so a batch's watermark (the largest
`last_update_time` in it) says exactly which traces it holds. For each batch the tables are written
in the order `traces`, `spans`, `assessments`, each in one Delta commit carrying the batch watermark
as its application transaction version. Each table resumes from its own watermark, so a sync killed
anywhere — before a commit, between commits, after the last commit but before the database records
the outcome — is finished by the next run without losing or repeating a row: a table whose log
already has the batch skips it; rows of traces already in the archive are merged on their keys.

Only changes at least `settle_ms` old are taken: a write stamped at time t may commit a little after
t, and a sync reading "up to now" could otherwise step over it.

Batches go through two stages: one thread commits batch n while the calling thread reads and shapes
batch n + 1. Commits still happen one at a time and in batch order, and a batch's merge check (are
any of its traces archived already?) runs after the batch before it has committed, so the two
stages change nothing above.
"""

from __future__ import annotations

import logging
import os
import socket
import uuid
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field

from sqlalchemy import func, select

from tracelake.exceptions import NotFoundError
from tracelake.monitoring.archive import settings as st
from tracelake.monitoring.archive.delta import ArchiveTables
from tracelake.monitoring.archive.rows import ArchiveBatch, load_batch
from tracelake.monitoring.archive.schema import TABLES
from tracelake.store import SqlTraceStore
from tracelake.store.sql.schema import traces

logger = logging.getLogger(__name__)

DEFAULT_BATCH_TRACES = 2000
DEFAULT_SETTLE_MS = 2000
LEASE_TTL_MS = 300_000

#: Called after each batch with (traces done, traces in the sync).
Progress = Callable[[int, int], None]


class LeaseLostError(RuntimeError):
    """Our sync lease lapsed and another worker took it: stop before writing anything more."""


@dataclass
class SyncResult:
    """What a sync wrote."""

    batches: int = 0
    traces: int = 0
    spans: int = 0
    assessments: int = 0
    watermark_ms: int | None = None
    skipped: bool = False  # another worker held the lease
    rows: dict[str, int] = field(default_factory=dict)


def worker_id() -> str:
    """A name for this process in lease rows: host, pid and a random suffix."""
    return f"{socket.gethostname()[:60]}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def _pending(store: SqlTraceStore, experiment_id: int, after: int, upper: int) -> int:
    where = (
        traces.c.experiment_id == experiment_id,
        traces.c.last_update_time > after,
        traces.c.last_update_time <= upper,
    )
    with store.engine.connect() as connection:
        return int(connection.execute(select(func.count()).select_from(traces).where(*where)).scalar_one())


def _next_batch(store: SqlTraceStore, experiment_id: int, after: int, upper: int, size: int) -> tuple[list[str], int]:
    """Return the ids of the next batch after watermark `after`, and the batch's watermark."""
    lut = traces.c.last_update_time
    in_range = (traces.c.experiment_id == experiment_id, lut > after, lut <= upper)
    with store.engine.connect() as connection:
        rows = connection.execute(select(traces.c.trace_id, lut).where(*in_range).order_by(lut).limit(size)).all()
        if not rows:
            return [], after
        mark = int(rows[-1][1])
        ids = [row[0] for row in rows if int(row[1]) < mark]
        # Every trace stamped with the last millisecond, however many: the watermark must cover all of them.
        last = select(traces.c.trace_id).where(traces.c.experiment_id == experiment_id, lut == mark)
        ids.extend(row[0] for row in connection.execute(last))
    return ids, mark


def sync_tables(
    store: SqlTraceStore,
    experiment_id: str,
    tables: ArchiveTables,
    *,
    batch_traces: int = DEFAULT_BATCH_TRACES,
    settle_ms: int = DEFAULT_SETTLE_MS,
    progress: Progress | None = None,
    before_batch: Callable[[], None] | None = None,
) -> SyncResult:
    """Bring the archive tables up to date with the store (see the module docstring).

    Args:
        store: the store to read.
        experiment_id: the experiment to archive.
        tables: its archive tables.
        batch_traces: traces per batch (a batch may exceed it by the traces sharing its last millisecond).
        settle_ms: leave changes younger than this for the next sync.
        progress: called after each batch with (traces done, traces to do).
        before_batch: called before each batch (renews the lease; raises to stop).

    Raises:
        ArchiveSchemaError: a table's schema was changed by someone else.
        Exception: whatever deltalake or the store raise (unwritable location, …); batches committed
            before the failure stay, and the next sync resumes after them.
    """
    marks = {name: tables.watermark(name) for name in TABLES}
    cursor = min(marks.values())
    upper = st.now_ms() - settle_ms
    experiment = int(experiment_id)
    total = _pending(store, experiment, cursor, upper)
    result = SyncResult(watermark_ms=max(marks.values()) if cursor >= 0 else None)
    done = 0

    def committed(commit: Future[dict[str, int]], mark: int, traces_in_batch: int) -> None:
        nonlocal done
        for name, count in commit.result().items():  # raises the commit's error
            marks[name] = mark
            result.rows[name] = result.rows.get(name, 0) + count
        done += traces_in_batch
        result.batches += 1
        result.watermark_ms = mark
        if progress is not None:
            progress(done, max(total, done))

    # Two stages: while one thread commits batch n (deltalake's Parquet encoding and writes release
    # the GIL), this one reads and shapes batch n + 1. Commits stay in batch order, one at a time,
    # and batch n + 1's merge check reads the tables after batch n's commit.
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="tracelake-archive-commit") as committer:
        pending: tuple[Future[dict[str, int]], int, int] | None = None
        while True:
            if before_batch is not None:
                before_batch()
            ids, mark = _next_batch(store, experiment, cursor, upper, batch_traces)
            if not ids:
                break
            batch = load_batch(store, ids, st.now_ms())
            if pending is not None:
                committed(*pending)
            archived = tables.archived_trace_ids(ids) if marks["traces"] >= 0 else set()
            pending = (committer.submit(_commit, tables, batch, archived, dict(marks), mark), mark, len(ids))
            cursor = mark
        if pending is not None:
            committed(*pending)
    result.traces = result.rows.get("traces", 0)
    result.spans = result.rows.get("spans", 0)
    result.assessments = result.rows.get("assessments", 0)
    return result


def _commit(
    tables: ArchiveTables, batch: ArchiveBatch, archived: set[str], marks: dict[str, int], mark: int
) -> dict[str, int]:
    """Write one batch to each table not holding it yet, in table order; return the rows written per table.

    `archived`: which of the batch's traces the archive had before it (their rows are merged).
    """
    written: dict[str, int] = {}
    for name in TABLES:
        if marks[name] >= mark:
            continue  # committed by an earlier, interrupted run
        rows = batch.table(name)
        merge = bool(archived) and bool(archived.intersection(rows.column("trace_id").to_pylist()))
        tables.write(name, rows, merge=merge, version=mark)
        written[name] = rows.num_rows
    return written


def run_sync(
    store: SqlTraceStore,
    experiment_id: str,
    location: str | None = None,
    *,
    owner: str | None = None,
    leased: bool = False,
    interval_seconds: int | None = None,
    batch_traces: int = DEFAULT_BATCH_TRACES,
    settle_ms: int = DEFAULT_SETTLE_MS,
    progress: Progress | None = None,
) -> SyncResult:
    """Sync one experiment under its lease and record the outcome in `archive_state`.

    Takes the lease unless `leased` (the worker claimed it already); returns a result with
    `skipped=True` if another worker holds it. A failure is recorded (status `error`, the message)
    and re-raised; the lease is released either way.

    Raises:
        NotFoundError: archiving was never enabled for the experiment and no `location` is given.
    """
    owner = owner or worker_id()
    if location is None or interval_seconds is None:
        current = st.get_settings(store.engine, experiment_id)
        if current is None:
            raise NotFoundError(
                f"archiving is not enabled for experiment {experiment_id}: run 'tracelake archive enable' first"
            )
        location = location or current.location
        interval_seconds = interval_seconds or current.interval_seconds
    if not leased and not st.acquire_lease(store.engine, experiment_id, owner, LEASE_TTL_MS):
        return SyncResult(skipped=True)

    def renew() -> None:
        if not st.renew_lease(store.engine, experiment_id, owner, LEASE_TTL_MS):
            raise LeaseLostError(f"the archive lease of experiment {experiment_id} was taken by another worker")

    started = st.now_ms()
    values: dict[str, object] = {"last_sync_time": started, "next_sync_time": started + interval_seconds * 1000}
    try:
        tables = ArchiveTables(location, experiment_id)
        result = sync_tables(
            store,
            experiment_id,
            tables,
            batch_traces=batch_traces,
            settle_ms=settle_ms,
            progress=progress,
            before_batch=renew,
        )
    except BaseException as exc:
        message = f"{type(exc).__name__}: {exc}"
        logger.error("archive sync of experiment %s to %s failed: %s", experiment_id, location, message)
        values.update(last_status="error", last_error=message[:4000], last_duration_ms=st.now_ms() - started)
        st.finish(store.engine, experiment_id, owner, values)
        raise
    values.update(
        last_status="ok",
        last_error=None,
        last_success_time=started,
        last_duration_ms=st.now_ms() - started,
        watermark_ms=result.watermark_ms,
    )
    st.finish(
        store.engine, experiment_id, owner, st.add_counts(values, result.traces, result.spans, result.assessments)
    )
    logger.info(
        "archived experiment %s: %d traces, %d spans, %d assessments in %d batches",
        experiment_id,
        result.traces,
        result.spans,
        result.assessments,
        result.batches,
    )
    return result
