"""The archive's job in `tracelake monitor`: syncs that are due, and compaction and vacuum on a schedule."""

from __future__ import annotations

import logging

from tracelake.monitoring.archive import settings as st
from tracelake.monitoring.archive.delta import ArchiveTables
from tracelake.monitoring.archive.sync import DEFAULT_SETTLE_MS, LEASE_TTL_MS, run_sync, worker_id
from tracelake.store import SqlTraceStore

logger = logging.getLogger(__name__)

COMPACT_EVERY_MS = 3_600_000  # small files pile up one per batch: rewrite them hourly
VACUUM_EVERY_MS = 86_400_000  # delete files compaction replaced, once a day (after the retention period)


class ArchiveJob:
    """Runs every due archive sync this worker can lease, then maintenance of the synced tables."""

    name = "archive"

    def __init__(
        self,
        store: SqlTraceStore,
        *,
        settle_ms: int = DEFAULT_SETTLE_MS,
        compact_every_ms: int = COMPACT_EVERY_MS,
        vacuum_every_ms: int = VACUUM_EVERY_MS,
        max_syncs_per_tick: int = 100,
    ) -> None:
        self.store = store
        self.owner = worker_id()
        self.settle_ms = settle_ms
        self.compact_every_ms = compact_every_ms
        self.vacuum_every_ms = vacuum_every_ms
        self.max_syncs_per_tick = max_syncs_per_tick

    def run_due(self, now_ms: int) -> None:
        """Sync each due experiment once (a failure is recorded in its status; the others go on)."""
        for _ in range(self.max_syncs_per_tick):
            claimed = st.claim_due(self.store.engine, self.owner, LEASE_TTL_MS)
            if claimed is None:
                return
            try:
                run_sync(
                    self.store,
                    claimed.experiment_id,
                    claimed.location,
                    owner=self.owner,
                    leased=True,
                    interval_seconds=claimed.interval_seconds,
                    settle_ms=self.settle_ms,
                )
            except Exception:
                continue  # run_sync logged it and recorded it in the status
            self.maintain(claimed.experiment_id, claimed.location)

    def maintain(self, experiment_id: str, location: str) -> None:
        """Compact and vacuum the experiment's tables when due (under a fresh lease; errors are logged)."""
        state = st.get_state(self.store.engine, experiment_id)
        if state is None:
            return
        now = st.now_ms()
        compact = now - (state.last_compact_time or 0) >= self.compact_every_ms
        vacuum = now - (state.last_vacuum_time or 0) >= self.vacuum_every_ms
        if not (compact or vacuum) or not st.acquire_lease(self.store.engine, experiment_id, self.owner, LEASE_TTL_MS):
            return
        values: dict[str, object] = {}
        try:
            tables = ArchiveTables(location, experiment_id)
            if compact:
                tables.compact()
                values["last_compact_time"] = now
            if vacuum:
                tables.vacuum()
                values["last_vacuum_time"] = now
        except Exception as exc:
            logger.exception("maintenance of the archive of experiment %s failed", experiment_id)
            values.update(last_status="error", last_error=f"maintenance: {type(exc).__name__}: {exc}"[:4000])
        finally:
            st.finish(self.store.engine, experiment_id, self.owner, values)
