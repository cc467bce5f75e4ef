"""Bulk statements: `ON CONFLICT` inserts (whose SQL differs by dialect) and fast executemany.

On SQLite, `execute_many` hands tuples straight to the driver: the write path sends thousands of
rows per call, and SQLAlchemy's per-row parameter processing would cost about as much as SQLite's
own inserting (our column types need no bind processing on SQLite anyway). INSERTs go as
multi-row statements (`VALUES (…), (…), …`, 64 rows each): the driver releases the GIL once per
statement it steps, and a thread that gives the GIL up once per row waits up to the interpreter's
switch interval (5 ms) to get it back whenever another thread is running Python code, such as the
export thread converting the next batch.

INSERTs leave out the columns a row has no value for (None) when the column's default is NULL
anyway: the sqlite3 driver binds None through its adapter protocol, two failed attribute lookups
that raise and clear an AttributeError each, and a span row has a dozen such NULLs (usage, cost,
model) — a tenth of the write path's own work before this.
"""

from __future__ import annotations

import functools
import itertools
import operator
import sqlite3
from collections.abc import Iterator, Mapping, Sequence
from typing import Any, TypeVar

from sqlalchemy import Connection, Dialect, Float, Table
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.sql.dml import Insert
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
        keys = tuple(rows[0])
        omittable = _null_default_columns(statement, keys)
        if omittable:
            for group_keys, group in _group_by_values_present(rows, keys, omittable).items():
                if not _execute_positional(connection, statement, group_keys, group):
                    connection.execute(statement, list(group))
            return
        if _execute_positional(connection, statement, keys, rows):
            return
    connection.execute(statement, list(rows))


def _execute_positional(
    connection: Connection, statement: Executable, keys: tuple[str, ...], rows: Sequence[Mapping[str, Any]]
) -> bool:
    """Run `statement` for `rows` (their `keys` only) as driver-level qmark SQL; False if it can't be."""
    compiled = _positional_sql(statement, connection.dialect, keys)
    if compiled is None:
        return False
    sql, order = compiled
    values = operator.itemgetter(*order)
    tuples = [(values(row),) for row in rows] if len(order) == 1 else [values(row) for row in rows]
    if len(rows) > 1 and _values_clause(sql) is not None:
        _insert_in_groups(connection, sql, tuples)
    else:
        connection.exec_driver_sql(sql, tuples)
    return True


def _group_by_values_present(
    rows: Sequence[Mapping[str, Any]], keys: tuple[str, ...], omittable: tuple[str, ...]
) -> dict[tuple[str, ...], list[Mapping[str, Any]]]:
    """Group rows by the columns they bind: `keys` less the `omittable` ones that are None in the row."""
    by_nulls: dict[tuple[str, ...], list[Mapping[str, Any]]] = {}
    for row in rows:
        nulls = tuple([key for key in omittable if row[key] is None])
        group = by_nulls.get(nulls)
        if group is None:
            by_nulls[nulls] = [row]
        else:
            group.append(row)
    return {
        tuple(key for key in keys if key not in nulls) if nulls else keys: group for nulls, group in by_nulls.items()
    }


@functools.lru_cache(maxsize=64)
def _null_default_columns(statement: Executable, keys: tuple[str, ...]) -> tuple[str, ...]:
    """Return the `keys` an INSERT may leave out when None: columns whose value then is NULL anyway."""
    if not isinstance(statement, Insert):
        return ()
    table = statement.table
    if not isinstance(table, Table):
        return ()
    columns = table.c
    return tuple(
        key
        for key in keys
        if key in columns
        and columns[key].default is None
        and columns[key].server_default is None
        and not columns[key].primary_key
    )


# Bound parameters per statement: SQLite before 3.32 allows 999.
_MAX_PARAMETERS = 32_766 if sqlite3.sqlite_version_info >= (3, 32) else 999
_GROUP_ROWS = 64


def _insert_in_groups(connection: Connection, sql: str, rows: Sequence[tuple[Any, ...]]) -> None:
    """Insert `rows` with statements of 64, 32, 16… rows each (a few cached statement texts)."""
    size = min(_GROUP_ROWS, _MAX_PARAMETERS // len(rows[0]))
    size = 1 << (size.bit_length() - 1)  # a power of two: the remainder splits into halves
    start = 0
    while start < len(rows):
        while size > len(rows) - start:
            size //= 2
        group = rows[start : start + size]
        connection.exec_driver_sql(_multi_row_sql(sql, size), tuple(itertools.chain.from_iterable(group)))
        start += size


def _values_clause(sql: str) -> tuple[int, int] | None:
    """Return where the `(?, …)` of an `INSERT … VALUES (?, …) …` statement starts and ends."""
    if not sql.startswith("INSERT"):
        return None
    start = sql.find(" VALUES (")
    if start < 0:
        return None
    start += len(" VALUES ")
    end = sql.find(")", start)
    return (start, end + 1) if end > 0 else None


@functools.lru_cache(maxsize=64)
def _multi_row_sql(sql: str, rows: int) -> str:
    if rows == 1:
        return sql
    clause = _values_clause(sql)
    assert clause is not None
    start, end = clause
    return sql[:start] + ", ".join([sql[start:end]] * rows) + sql[end:]


@functools.lru_cache(maxsize=256)
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


def insert_returning(
    connection: Connection, table: Table, rows: Sequence[Mapping[str, Any]], keys: Sequence[str], returning: str
) -> set[Any]:
    """Insert `rows` like `insert_ignoring_conflicts`; return the `returning` column of those inserted.

    For PostgreSQL, where concurrent writers may insert the same keys: `RETURNING` names the rows
    this statement inserted (SQLAlchemy batches them into multi-row statements).
    """
    if not rows:
        return set()
    statement = _returning_statement(connection.dialect.name, table, tuple(keys), returning)
    return set(connection.execute(statement, list(rows)).scalars())


@functools.lru_cache(maxsize=8)
def _returning_statement(dialect_name: str, table: Table, keys: tuple[str, ...], returning: str) -> Executable:
    statement: Any = _conflict_statement(dialect_name, table, keys, None)
    return statement.returning(table.c[returning])  # type: ignore[no-any-return]


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
