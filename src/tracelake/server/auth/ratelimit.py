"""A sliding-window limit on failed sign-in attempts (login form, token endpoint).

Kept in the server process's memory: each replica limits on its own, which bounds guessing per
replica without a database write per attempt (a fleet of N replicas allows N times the rate).
"""

from __future__ import annotations

import math
import threading
import time
from collections import deque

__all__ = ["FailureLimiter"]

_MAX_KEYS = 100_000


class FailureLimiter:
    """Allow at most `max_failures` failures per key within `window_s` seconds.

    Args:
        max_failures: failures allowed in the window; the next attempt is refused until the oldest expires.
        window_s: the window's length.
    """

    def __init__(self, max_failures: int, window_s: float = 60.0) -> None:
        self.max_failures = max_failures
        self.window_s = window_s
        self._failures: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def retry_after(self, *keys: str) -> int | None:
        """Return the seconds to wait if any key is over its limit, else None."""
        now = time.monotonic()
        wait = 0.0
        with self._lock:
            for key in keys:
                found = self._failures.get(key)
                if found is None:
                    continue
                while found and found[0] <= now - self.window_s:
                    found.popleft()
                if len(found) >= self.max_failures:
                    wait = max(wait, found[0] + self.window_s - now)
        return max(1, math.ceil(wait)) if wait > 0 else None

    def failed(self, *keys: str) -> None:
        """Count a failed attempt against every key."""
        now = time.monotonic()
        with self._lock:
            if len(self._failures) > _MAX_KEYS:  # bounded memory under a spray of usernames
                self._failures = {k: v for k, v in self._failures.items() if v and v[-1] > now - self.window_s}
            for key in keys:
                self._failures.setdefault(key, deque()).append(now)
