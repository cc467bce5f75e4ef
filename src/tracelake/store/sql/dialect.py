"""Bulk statements: `ON CONFLICT` inserts (whose SQL differs by dialect) and fast executemany.

On SQLite, `execute_many` hands tuples straight to the driver's `executemany`: the write path sends
thousands of rows per call, and SQLAlchemy's per-row parameter processing would cost about as
much as SQLite's own inserting (our column types need no bind processing on SQLite anyway).
"""

from __future__ import annotations

import functools
import operator
from collections.abc import Iterator, Mapping, Sequence
from typing import Any, TypeVar

from sqlalchemy import Connection, Dialect, Float, Table
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.sql.expression import Executable

T = TypeVar("T")

#: Ids per `IN (…)` list: far below SQLite's 32,766 and PostgreSQL's 65,535 bound parameters.
IN_CHUNK = 500


def chunks(items: Sequence[T], size: int = IN_CHUNK) -> Iterator[Sequence[T]]:
    """Yield consecutive slices of `items` of at most `size` elements."""
    for start in range(0, len(items), size):
        yield items[start : start + size]


def execute_many(connection: Connection, statement: Executable, rows: Sequence[Mapping[str, Any]]) -> None:
    """Execute `statement` once per row (one executemany); every row must have the same keys.

    `statement` should be a long-lived object (a module constant): its compiled SQL is cached.
    """
    if not rows:
        return
    if connection.dialect.name == "sqlite":
        compiled = _positional_sql(statement, connection.dialect, tuple(rows[0]))
        if compiled is not None:
            sql, order = compiled
            values = operator.itemgetter(*order)
            if len(order) == 1:
                connection.exec_driver_sql(sql, [(values(row),) for row in rows])
            else:
                connection.exec_driver_sql(sql, [values(row) for row in rows])
            return
    connection.execute(statement, list(rows))


@functools.lru_cache(maxsize=64)
def _positional_sql(statement: Executable, dialect: Dialect, keys: tuple[str, ...]) -> tuple[str, list[str]] | None:
    """Return the SQL and parameter order of `statement` for these keys, or None if it needs processing.

    Float's bind processor (`float(value)`) is not needed: SQLite's REAL affinity stores ints as floats.
    """
    if dialect.paramstyle != "qmark":
        return None
    compiled = statement.compile(dialect=dialect, column_keys=list(keys))  # type: ignore[attr-defined]
    order = compiled.positiontup
    if order is None:
        return None
    for name in order:
        bind_type = compiled.binds[name].type
        if not isinstance(bind_type, Float) and bind_type._cached_bind_processor(dialect) is not None:
            return None
    return compiled.string, list(order)


@functools.lru_cache(maxsize=32)
def _conflict_statement(
    dialect_name: str, table: Table, keys: tuple[str, ...], update: tuple[str, ...] | None
) -> Executable:
    # Both dialects' insert() offer the same on_conflict_* methods.
    insert: Any = postgresql.insert(table) if dialect_name == "postgresql" else sqlite.insert(table)
    if update is None:
        return insert.on_conflict_do_nothing(index_elements=list(keys))  # type: ignore[no-any-return]
    return insert.on_conflict_do_update(  # type: ignore[no-any-return]
        index_elements=list(keys), set_={name: insert.excluded[name] for name in update}
    )


def insert_ignoring_conflicts(
    connection: Connection, table: Table, rows: Sequence[Mapping[str, Any]], keys: Sequence[str]
) -> None:
    """Insert `rows` (one executemany); rows whose `keys` already exist are left alone."""
    execute_many(connection, _conflict_statement(connection.dialect.name, table, tuple(keys), None), rows)


def upsert(
    connection: Connection,
    table: Table,
    rows: Sequence[Mapping[str, Any]],
    keys: Sequence[str],
    update: Sequence[str],
) -> None:
    """Insert `rows`; where `keys` already exist, overwrite the `update` columns (last write wins)."""
    statement = _conflict_statement(connection.dialect.name, table, tuple(keys), tuple(update))
    execute_many(connection, statement, rows)
