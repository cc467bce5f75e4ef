"""Deferring Python's cyclic garbage collector while the export thread works on a batch.

Converting and storing a batch allocates a few objects per span that live exactly as long as the
batch (records, stored spans, index rows). They outlive the collector's young generations, so the
collector promotes them to the oldest one, and every few batches their promotion count triggers a
full collection — which walks every object of the process, including the spans queued for export.
In a burst (bench_persist) a fifth of the process's CPU went to those collections. Deferring the
collector while a batch is converted lets those objects die by reference counting, unseen.

Rules, so that the application never loses its collector:

- The collector is deferred only if it is enabled when a window opens: an application that
  disabled it keeps it disabled, and one that never did gets it back when the window closes.
- A window lasts at most `max_pause_s`: past that the collector is enabled at the next check
  (the end of a window), and stays enabled for a quarter of that time before the next deferral.
  A pipeline that is busy all the time (spans arriving faster than they are stored) so defers
  the collector at most four fifths of the time, in stretches of half a second.
- Windows of several exporters (threads) share one state: the collector is enabled again when
  the last one closes.

One thing this cannot see: an application that calls `gc.disable()` from another thread while a
window is open gets the collector enabled again when the window closes (Python offers no way to
tell its disable from ours). `TRACELAKE_EXPORT_DEFER_GC=false` turns deferral off.
"""

from __future__ import annotations

import gc
import os
import threading
import time
from collections.abc import Callable
from types import TracebackType
from typing import Final

__all__ = ["MAX_PAUSE_S", "CollectorPause"]

#: Longest stretch the collector stays deferred.
MAX_PAUSE_S: Final = 0.5


class CollectorPause:
    """A context manager that defers the cyclic garbage collector for its duration (see module doc).

    Thread-safe; one instance is shared by every exporter of the process (`COLLECTOR_PAUSE`).
    """

    def __init__(self, max_pause_s: float = MAX_PAUSE_S, clock: Callable[[], float] = time.monotonic) -> None:
        self._max_pause_s = max_pause_s
        self._clock = clock
        self._lock = threading.Lock()
        self._holders = 0
        self._ours = False  # the collector is disabled by us
        self._since = 0.0
        self._not_before = 0.0
        os.register_at_fork(after_in_child=self._after_fork)

    def _after_fork(self) -> None:
        # The thread that held a window does not exist in the child: give the collector back.
        if self._ours:
            gc.enable()
        self._lock = threading.Lock()
        self._holders = 0
        self._ours = False

    def __enter__(self) -> None:
        with self._lock:
            now = self._clock()
            if self._holders == 0 and not self._ours and now >= self._not_before and gc.isenabled():
                gc.disable()
                self._ours = True
                self._since = now
            self._holders += 1

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, traceback: TracebackType | None
    ) -> None:
        with self._lock:
            self._holders -= 1
            if not self._ours:
                return
            now = self._clock()
            overdue = now - self._since >= self._max_pause_s
            if self._holders == 0 or overdue:
                self._ours = False
                gc.enable()
                if overdue:
                    self._not_before = now + self._max_pause_s / 4


#: The process's one pause, shared by its exporters.
COLLECTOR_PAUSE: Final = CollectorPause()
