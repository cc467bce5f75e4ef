"""`tracelake monitor`: the worker that runs monitoring jobs on schedule.

A job is anything with `run_due(now_ms)`: it does whatever is due at that time (claiming work
through leases in the tracking database, so any number of workers may run side by side) and
returns. The worker calls every job in turn, then sleeps a tick. A job that raises is logged and
the worker goes on with the others: one bad experiment never stops the rest.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Sequence
from typing import Protocol

from tracelake.store import SqlTraceStore

logger = logging.getLogger(__name__)

DEFAULT_TICK_SECONDS = 1.0


class Job(Protocol):
    """One kind of scheduled work (archive syncs, scorers)."""

    name: str

    def run_due(self, now_ms: int) -> None:
        """Do the work due at `now_ms`, then return (never block for long)."""


def default_jobs(store: SqlTraceStore) -> list[Job]:
    """Return the jobs `tracelake monitor` runs against `store`."""
    from tracelake.monitoring.archive.job import ArchiveJob

    jobs: list[Job] = [ArchiveJob(store)]
    # --- scorers job: the scorers part of `tracelake.monitoring` adds its job here -------------
    from tracelake.monitoring.scorers.job import ScorerJob

    jobs.append(ScorerJob(store))
    # ------------------------------------------------------------------------------------------
    return jobs


class Worker:
    """Runs jobs every tick until stopped."""

    def __init__(self, jobs: Sequence[Job], tick_seconds: float = DEFAULT_TICK_SECONDS) -> None:
        self.jobs = list(jobs)
        self.tick_seconds = tick_seconds
        self._stop = threading.Event()

    def run_once(self) -> None:
        """Give every job one chance to run what is due."""
        for job in self.jobs:
            if self._stop.is_set():
                return
            try:
                job.run_due(time.time_ns() // 1_000_000)
            except Exception:
                logger.exception("monitoring job %s failed; continuing with the others", job.name)

    def run_forever(self) -> None:
        """Run ticks until `stop()` (or Ctrl-C in the caller)."""
        while not self._stop.is_set():
            self.run_once()
            self._stop.wait(self.tick_seconds)

    def stop(self) -> None:
        """Ask the loop to end after the current job."""
        self._stop.set()
