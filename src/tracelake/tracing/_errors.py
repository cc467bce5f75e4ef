"""Tracing never raises into the application: internal errors are logged once and swallowed."""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager

logger = logging.getLogger("tracelake")

_seen: set[str] = set()
_seen_lock = threading.Lock()


def log_once(key: str, message: str, *args: object, exc_info: bool = False, level: int = logging.WARNING) -> None:
    """Log `message` the first time `key` is seen in this process; later repeats are silent.

    A failing store or a hostile object would otherwise log on every span and flood the app's logs.
    """
    with _seen_lock:
        if key in _seen:
            return
        _seen.add(key)
    logger.log(level, message, *args, exc_info=exc_info)


def reset_log_once() -> None:
    """Forget which messages were logged (for tests)."""
    with _seen_lock:
        _seen.clear()


@contextmanager
def internal_errors(where: str) -> Iterator[None]:
    """Swallow and log (once per place) any exception raised by tracelake's own code."""
    try:
        yield
    except Exception:
        log_once(f"internal:{where}", "tracelake: internal error in %s (tracing continues)", where, exc_info=True)
