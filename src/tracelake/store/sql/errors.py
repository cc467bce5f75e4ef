"""Driver errors → `StoreError`: the one place where sqlite3, psycopg and SQLAlchemy errors stop.

Callers of the store see only the `tracelake.exceptions` tree; the driver's exception stays
reachable as `__cause__` for debugging.
"""

from __future__ import annotations

import functools
import sqlite3
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import ParamSpec, TypeVar

from sqlalchemy import exc as sa_exc

from tracelake.exceptions import ConflictError, StoreError, TracelakeError

P = ParamSpec("P")
R = TypeVar("R")

# SQLSTATEs after which a PostgreSQL transaction may simply be run again.
_RETRYABLE_SQLSTATES = frozenset({"40001", "40P01"})  # serialization_failure, deadlock_detected


def is_retryable(exc: BaseException) -> bool:
    """Return whether `exc` is a PostgreSQL deadlock or serialization failure (safe to retry)."""
    if isinstance(exc, sa_exc.DBAPIError):
        return getattr(exc.orig, "sqlstate", None) in _RETRYABLE_SQLSTATES
    return False


def is_unique_violation(exc: BaseException) -> bool:
    """Return whether `exc` is a unique-constraint violation (and not, say, a foreign key one)."""
    if not isinstance(exc, sa_exc.IntegrityError):
        return False
    sqlstate = getattr(exc.orig, "sqlstate", None)
    if sqlstate is not None:
        return bool(sqlstate == "23505")
    return "UNIQUE constraint failed" in str(exc.orig)


def _driver_message(exc: BaseException) -> str:
    # SQLAlchemy's own str() appends the SQL and up to thousands of bound parameters; the driver's
    # message alone says what went wrong.
    cause: BaseException = exc.orig if isinstance(exc, sa_exc.DBAPIError) and exc.orig is not None else exc
    return " ".join(str(cause).split()) or type(cause).__name__


def _is_driver_error(exc: BaseException) -> bool:
    module = type(exc).__module__
    return isinstance(exc, sqlite3.Error) or module == "psycopg" or module.startswith("psycopg.")


def map_error(exc: BaseException, action: str) -> TracelakeError:
    """Return the `StoreError` (or subclass) that stands for the driver error `exc`."""
    message = _driver_message(exc)
    if is_unique_violation(exc):
        return ConflictError(f"{action}: {message}")
    if "database is locked" in message:
        return StoreError(
            f"{action}: the SQLite database is locked (another process held the write lock longer than"
            " the busy timeout)"
        )
    return StoreError(f"{action}: {message}")


@contextmanager
def translate_errors(action: str) -> Iterator[None]:
    """Re-raise driver and SQLAlchemy errors raised inside the block as `StoreError` subclasses.

    Args:
        action: what was being done, for the message (e.g. "write traces").
    """
    try:
        yield
    except TracelakeError:
        raise
    except sa_exc.SQLAlchemyError as exc:
        raise map_error(exc, action) from exc
    except OSError as exc:
        raise StoreError(f"{action}: {exc}") from exc
    except Exception as exc:
        if _is_driver_error(exc):
            raise map_error(exc, action) from exc
        raise


def store_errors(action: str) -> Callable[[Callable[P, R]], Callable[P, R]]:
    """Decorate a store method so that it raises only `tracelake.exceptions` errors."""

    def decorate(func: Callable[P, R]) -> Callable[P, R]:
        @functools.wraps(func)
        def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
            with translate_errors(action):
                return func(*args, **kwargs)

        return wrapper

    return decorate
