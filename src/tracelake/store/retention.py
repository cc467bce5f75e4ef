"""Per-experiment retention: delete traces older than an experiment's `tracelake.retention_days` tag.

`enforce_retention` runs one pass over every experiment (active or deleted) that has the tag. It
deletes in bounded batches, each one `delete_traces` call: a short transaction removing at most
`batch_size` trace rows (spans, tags, metadata and assessments go with them), then, after the
commit and outside the write lock, their payload objects. Ingest therefore waits at most one small
batch, never the whole purge. `RetentionWorker` runs passes on a daemon thread (the server starts
it in its lifespan).
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Protocol

from tracelake.exceptions import ConfigError, TracelakeError
from tracelake.model import Experiment

logger = logging.getLogger(__name__)

RETENTION_TAG = "tracelake.retention_days"
"""Experiment tag holding the retention period in whole days."""

DAY_MS = 86_400_000
DEFAULT_BATCH_SIZE = 500
DEFAULT_INTERVAL_S = 600.0


class RetentionStore(Protocol):
    """What retention needs of a store (`SqlTraceStore` has it all)."""

    def get_experiment(self, experiment_id: str) -> Experiment: ...
    def list_experiments(self, include_deleted: bool = False) -> list[Experiment]: ...
    def set_experiment_tag(self, experiment_id: str, key: str, value: str) -> Experiment: ...
    def delete_experiment_tag(self, experiment_id: str, key: str) -> Experiment: ...
    def sweep_orphan_packs(self, min_age_s: float = 3600.0) -> int: ...
    def refresh_statistics(self) -> None: ...
    def delete_traces(
        self,
        experiment_id: str,
        max_timestamp_ms: int | None = None,
        max_traces: int | None = None,
        trace_ids: Sequence[str] | None = None,
    ) -> int: ...


def _check_batch_size(batch_size: object) -> None:
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ConfigError(f"batch_size must be a positive whole number, not {batch_size!r}")


def check_retention_days(days: object) -> int:
    """Return `days` if it is a valid retention period (a whole number of days, at least 1).

    Raises:
        ConfigError: it is not.
    """
    if isinstance(days, bool) or not isinstance(days, int) or days < 1:
        raise ConfigError(f"retention must be a whole number of days, at least 1, not {days!r}")
    return days


def retention_days(experiment: Experiment) -> int | None:
    """Return the experiment's retention period in days, or None if it keeps traces forever.

    Raises:
        ConfigError: the tag holds something other than a whole number of days (at least 1).
    """
    raw = experiment.tags.get(RETENTION_TAG)
    if raw is None:
        return None
    try:
        value = float(raw.strip())
    except ValueError:
        value = math.nan
    if not value.is_integer() or value < 1:
        raise ConfigError(
            f"experiment {experiment.experiment_id}: {RETENTION_TAG}={raw!r} is not a whole number of days (at least 1)"
        )
    return int(value)


def set_retention(store: RetentionStore, experiment_id: str, days: int | None) -> Experiment:
    """Keep the experiment's traces for `days` days (None: forever); return the updated experiment.

    Raises:
        ConfigError: `days` is not a whole number of at least 1.
        NotFoundError: the experiment does not exist or is deleted.
    """
    if days is not None:
        return store.set_experiment_tag(experiment_id, RETENTION_TAG, str(check_retention_days(days)))
    experiment = store.get_experiment(experiment_id)
    if RETENTION_TAG not in experiment.tags:
        return experiment
    return store.delete_experiment_tag(experiment_id, RETENTION_TAG)


def enforce_retention(
    store: RetentionStore,
    now_ms: int,
    batch_size: int = DEFAULT_BATCH_SIZE,
    stop: threading.Event | None = None,
) -> dict[str, int]:
    """Delete every trace older than its experiment's retention period, in batches.

    A trace is older than the period when it started at or before `now_ms - days * DAY_MS`.
    Experiments whose tag is invalid are skipped with a warning; deleted experiments are included
    (their traces stay until deleted, so retention still applies to them).

    Args:
        store: the store (`SqlTraceStore`).
        now_ms: the current time, in milliseconds since the epoch.
        batch_size: traces per delete transaction.
        stop: when set, the pass ends after the batch in progress (for a prompt shutdown).

    Returns:
        The number of traces deleted, by experiment id, for every experiment with a retention.

    Raises:
        ConfigError: `batch_size` is not a positive whole number.
        StoreError: the database failed; batches deleted before the failure stay deleted.
    """
    _check_batch_size(batch_size)
    deleted: dict[str, int] = {}
    for experiment in store.list_experiments(include_deleted=True):
        if stop is not None and stop.is_set():
            break
        try:
            days = retention_days(experiment)
        except ConfigError as exc:
            logger.warning("retention skipped: %s", exc)
            continue
        if days is None:
            continue
        cutoff_ms = now_ms - days * DAY_MS
        count = 0
        while stop is None or not stop.is_set():
            batch = store.delete_traces(experiment.experiment_id, max_timestamp_ms=cutoff_ms, max_traces=batch_size)
            count += batch
            if batch < batch_size:
                break
        deleted[experiment.experiment_id] = count
        if count:
            logger.info(
                "retention: deleted %d trace(s) older than %d day(s) from experiment %s (%s)",
                count,
                days,
                experiment.experiment_id,
                experiment.name,
            )
    return deleted


def _wall_clock_ms() -> int:
    return time.time_ns() // 1_000_000


class RetentionWorker:
    """Enforces retention on a daemon thread: once at `start()`, then every `interval_s` seconds.

    A failed pass is logged and retried at the next interval; the thread never dies of it.

    Args:
        store: the store to prune.
        interval_s: seconds between the end of one pass and the start of the next.
        batch_size: traces per delete transaction.
        clock: the current time in milliseconds (tests pass a fixed clock).

    Thread contract: `start()` and `stop()` may be called from any thread; each is idempotent.
    """

    def __init__(
        self,
        store: RetentionStore,
        interval_s: float = DEFAULT_INTERVAL_S,
        batch_size: int = DEFAULT_BATCH_SIZE,
        clock: Callable[[], int] = _wall_clock_ms,
    ) -> None:
        if not interval_s > 0:
            raise ConfigError(f"the retention interval must be positive, not {interval_s!r}")
        _check_batch_size(batch_size)
        self._store = store
        self._interval_s = interval_s
        self._batch_size = batch_size
        self._clock = clock
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.passes = 0
        """Passes completed (successful or not), for health checks and tests."""
        self.failures = 0
        """Passes that raised."""

    def run_once(self) -> dict[str, int]:
        """Run one pass now, on the calling thread; return the deleted counts by experiment id.

        A pass also sweeps payload packs orphaned by a crash mid-write (see `sweep_orphan_packs`).
        """
        deleted = enforce_retention(self._store, self._clock(), self._batch_size, self._stop)
        if not self._stop.is_set():
            self._store.refresh_statistics()
            swept = self._store.sweep_orphan_packs()
            if swept:
                logger.info("deleted %d orphaned payload pack(s)", swept)
        return deleted

    def start(self) -> None:
        """Start the thread (a no-op if it is running)."""
        with self._lock:
            if self._thread is not None and self._thread.is_alive():
                return
            self._stop.clear()
            self._thread = threading.Thread(target=self._run, name="tracelake-retention", daemon=True)
            self._thread.start()

    def stop(self, timeout: float | None = 30.0) -> bool:
        """Stop the thread after the batch in progress; return whether it ended within `timeout`."""
        with self._lock:
            thread, self._thread = self._thread, None
            self._stop.set()
        if thread is None:
            return True
        thread.join(timeout)
        return not thread.is_alive()

    @property
    def running(self) -> bool:
        """Whether the thread is alive."""
        thread = self._thread
        return thread is not None and thread.is_alive()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.run_once()
            except Exception as exc:
                self.failures += 1
                message = str(exc) if isinstance(exc, TracelakeError) else repr(exc)
                logger.error("retention pass failed (retrying in %.0f s): %s", self._interval_s, message, exc_info=True)
            self.passes += 1
            self._stop.wait(self._interval_s)


if TYPE_CHECKING:
    from tracelake.store.sql import SqlTraceStore

    # mypy proves here that SqlTraceStore has what retention needs.
    _conforms: type[RetentionStore] = SqlTraceStore
