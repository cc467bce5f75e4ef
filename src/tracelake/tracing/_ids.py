"""Sources of ids and time, swappable for deterministic tests."""

from __future__ import annotations

import itertools
import random
import time
from typing import Protocol


class IdGenerator(Protocol):
    def trace_id(self) -> int: ...
    def span_id(self) -> int: ...


class RandomIds:
    """W3C-valid random ids from a private generator.

    A private `random.Random` keeps ids unique when the application seeds the global generator
    (a seeded app would otherwise produce the same trace ids in every process).
    """

    def __init__(self) -> None:
        self._random = random.Random()
        self._bits = self._random.getrandbits

    def trace_id(self) -> int:
        return self._bits(128) or 1

    def span_id(self) -> int:
        return self._bits(64) or 1


class SequentialIds:
    """Ids 1, 2, 3, … for readable, repeatable test assertions."""

    def __init__(self) -> None:
        self._traces = itertools.count(1)
        self._spans = itertools.count(1)

    def trace_id(self) -> int:
        return next(self._traces)

    def span_id(self) -> int:
        return next(self._spans)


class Clock(Protocol):
    def __call__(self) -> int: ...


def wall_clock_ns() -> int:
    """Nanoseconds since the Unix epoch."""
    return time.time_ns()


class FakeClock:
    """A clock that advances by a fixed step each time it is read."""

    def __init__(self, start_ns: int = 1_700_000_000_000_000_000, step_ns: int = 1_000_000) -> None:
        self._now = start_ns - step_ns
        self._step = step_ns

    def __call__(self) -> int:
        self._now += self._step
        return self._now
