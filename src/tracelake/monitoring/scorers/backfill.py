"""Backfill: judge past traces with a registered scorer, batch by batch, reporting progress."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from tracelake.monitoring.scorers import runs
from tracelake.monitoring.scorers.job import ScorerJob
from tracelake.monitoring.scorers.registry import ScorerRegistration

__all__ = ["BackfillResult", "backfill", "count_backfill"]


@dataclass(slots=True)
class BackfillResult:
    """What a backfill did: traces judged, failed (retried later by `tracelake monitor`), skipped."""

    done: int = 0
    errors: int = 0
    skipped: int = 0
    budget_exhausted: bool = False

    @property
    def seen(self) -> int:
        return self.done + self.errors + self.skipped


def count_backfill(job: ScorerJob, registration: ScorerRegistration, since_ms: int) -> int:
    """Return how many traces a backfill from `since_ms` has to go through."""
    return runs.count_candidates(
        job.store.engine,
        scorer_id=registration.scorer_id,
        version=registration.version,
        experiment_id=registration.experiment_id,
        filter_string=registration.filter_string,
        since_ms=since_ms,
    )


def backfill(
    job: ScorerJob,
    registration: ScorerRegistration,
    since_ms: int,
    progress: Callable[[BackfillResult], None] | None = None,
    clock: Callable[[], int] = lambda: time.time_ns() // 1_000_000,
) -> BackfillResult:
    """Judge every complete trace since `since_ms` that this scorer version has not judged yet.

    Sampling, filter and budget apply as in the worker; traces already judged are left alone, so a
    backfill interrupted and run again continues where it stopped. Stops early when the hour's
    budget is spent (`budget_exhausted`).
    """
    total = BackfillResult()
    while True:
        batch = job.score_batch(registration, clock(), since_ms=since_ms)
        total.done += batch.done
        total.errors += batch.errors
        total.skipped += batch.skipped
        if progress is not None:
            progress(total)
        if batch.budget_exhausted:
            total.budget_exhausted = True
            return total
        if batch.selected == 0 and batch.claimed == 0:
            return total
