"""Bulk statements: `ON CONFLICT` inserts (whose SQL differs by dialect) and fast executemany.

On SQLite, `execute_many` hands tuples straight to the driver: the write path sends thousands of
rows per call, and SQLAlchemy's per-row parameter processing would cost about as much as SQLite's
own inserting (our column types need no bind processing on SQLite anyway). INSERTs go as
multi-row statements (`VALUES (…), (…), …`, 64 rows each): the driver releases the GIL once per
statement it steps, and a thread that gives the GIL up once per row waits up to the interpreter's
switch interval (5 ms) to get it back whenever another thread is running Python code, such as the
export thread converting the next batch.

INSERTs leave out the columns a row has no value for (None) when the column is nullable and its
default is NULL anyway: the sqlite3 driver binds None through its adapter protocol, two failed
attribute lookups that raise and clear an AttributeError each, and a span row has a dozen such
NULLs (usage, cost, model) — a tenth of the write path's own work before this. `execute_many`
finds them by checking each value of each row; `execute_grouped` takes rows already grouped by
the columns they bind (see `rows.SpanRows`), which is cheaper still for the thousands of span
rows a write inserts: checking and regrouping them cost as much as building them.
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
    if connection.dialect.name != "sqlite":
        connection.execute(statement, list(rows))
        return
    keys = tuple(rows[0])
    values = operator.itemgetter(*keys)
    tuples = [(values(row),) for row in rows] if len(keys) == 1 else list(map(values, rows))
    omittable = _null_default_positions(statement, keys)
    groups = _group_by_nulls(tuples, omittable) if omittable else {(): tuples}
    for nulls, group in groups.items():
        _execute_rows(connection, statement, keys, _bound_columns(keys, omittable, nulls), group)


def execute_grouped(
    connection: Connection,
    statement: Executable,
    columns: tuple[str, ...],
    groups: Mapping[tuple[str, ...], Sequence[Sequence[Any]]],
) -> None:
    """Execute the INSERT `statement` once per row, rows grouped by the columns they bind.

    A group's rows hold their values for its columns (some of `columns`), in that order; the other
    columns are NULL. Cheaper than `execute_many` on SQLite, where the rows go to the driver as they
    are: no dict per row, and no check of each value for None.
    """
    if connection.dialect.name != "sqlite":
        # One statement, every row binding every column, as `execute_many` sends mappings.
        rows: list[dict[str, Any]] = []
        for keys, group in groups.items():
            for values in group:
                row = dict.fromkeys(columns)
                row.update(zip(keys, values, strict=True))
                rows.append(row)
        if rows:
            connection.execute(statement, rows)
        return
    for keys, group in groups.items():
        if group:
            _execute_rows(connection, statement, keys, keys, group)


def _execute_rows(
    connection: Connection,
    statement: Executable,
    columns: tuple[str, ...],
    keys: tuple[str, ...],
    rows: Sequence[Sequence[Any]],
) -> None:
    """Run `statement` on SQLite binding `keys` of each row, a row being its values for `columns`."""
    plan = _positional_plan(statement, connection.dialect, columns, keys)
    if plan is None:
        connection.execute(statement, [dict(zip(columns, row, strict=True)) for row in rows])
        return
    sql, positions = plan
    if len(rows) > 1 and _values_clause(sql) is not None:
        _insert_in_groups(connection, sql, rows, positions, len(columns))
    elif len(positions) == 1:
        connection.exec_driver_sql(sql, [(row[positions[0]],) for row in rows])
    else:
        pick = operator.itemgetter(*positions)
        connection.exec_driver_sql(sql, list(map(pick, rows)))


def _group_by_nulls(
    rows: Sequence[Sequence[Any]], positions: tuple[int, ...]
) -> dict[tuple[bool, ...], list[Sequence[Any]]]:
    """Group rows by which of the values at `positions` are None (a flag per position)."""
    by_nulls: dict[tuple[bool, ...], list[Sequence[Any]]] = {}
    if len(positions) == 1:
        (position,) = positions
        for row in rows:
            by_nulls.setdefault((row[position] is None,), []).append(row)
        return by_nulls
    values = operator.itemgetter(*positions)
    for row in rows:
        nulls = tuple([value is None for value in values(row)])
        group = by_nulls.get(nulls)
        if group is None:
            by_nulls[nulls] = [row]
        else:
            group.append(row)
    return by_nulls


@functools.lru_cache(maxsize=256)
def _bound_columns(columns: tuple[str, ...], omittable: tuple[int, ...], nulls: tuple[bool, ...]) -> tuple[str, ...]:
    """Return `columns` less the `omittable` ones flagged in `nulls`."""
    if not any(nulls):
        return columns
    left_out = {position for position, null in zip(omittable, nulls, strict=True) if null}
    return tuple(name for position, name in enumerate(columns) if position not in left_out)


@functools.lru_cache(maxsize=64)
def _null_default_positions(statement: Executable, columns: tuple[str, ...]) -> tuple[int, ...]:
    """Return where among `columns` are those an INSERT may leave out when None: NULL anyway then.

    Only nullable columns: a NOT NULL one fails alike whether its None is bound or left to its
    (missing) default, so checking it for None would only cost time.
    """
    if not isinstance(statement, Insert):
        return ()
    table = statement.table
    if not isinstance(table, Table):
        return ()
    table_columns = table.c
    return tuple(
        position
        for position, name in enumerate(columns)
        if name in table_columns
        and table_columns[name].nullable
        and table_columns[name].default is None
        and table_columns[name].server_default is None
        and not table_columns[name].primary_key
    )


# Bound parameters per statement: SQLite before 3.32 allows 999.
_MAX_PARAMETERS = 32_766 if sqlite3.sqlite_version_info >= (3, 32) else 999
_GROUP_ROWS = 64


def _insert_in_groups(
    connection: Connection, sql: str, rows: Sequence[Sequence[Any]], positions: tuple[int, ...], width: int
) -> None:
    """Insert `rows` with statements of 64, 32, 16… rows each (a few cached statement texts).

    Each row binds its values at `positions`; rows of `width` values bound whole go as they are.
    """
    pick: Any = None if positions == tuple(range(width)) else operator.itemgetter(*positions)
    size = min(_GROUP_ROWS, _MAX_PARAMETERS // len(positions))
    size = 1 << (size.bit_length() - 1)  # a power of two: the remainder splits into halves
    start = 0
    while start < len(rows):
        while size > len(rows) - start:
            size //= 2
        group = rows[start : start + size]
        if pick is None:
            parameters = tuple(itertools.chain.from_iterable(group))
        elif len(positions) == 1:
            parameters = tuple(map(pick, group))  # itemgetter of one position returns the value itself
        else:
            parameters = tuple(itertools.chain.from_iterable(map(pick, group)))
        connection.exec_driver_sql(_multi_row_sql(sql, size), parameters)
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
def _positional_plan(
    statement: Executable, dialect: Dialect, columns: tuple[str, ...], keys: tuple[str, ...]
) -> tuple[str, tuple[int, ...]] | None:
    """Return the qmark SQL of `statement` binding `keys`, and where among `columns` each parameter is.

    None if the statement needs SQLAlchemy's processing. Float's bind processor (`float(value)`) is
    not needed: SQLite's REAL affinity stores ints as floats.
    """
    if dialect.paramstyle != "qmark":
        return None
    compiled = statement.compile(dialect=dialect, column_keys=list(keys))  # type: ignore[attr-defined]
    order = compiled.positiontup
    if order is None:
        return None
    where = {name: position for position, name in enumerate(columns)}
    for name in order:
        bind_type = compiled.binds[name].type
        if name not in where or (
            not isinstance(bind_type, Float) and bind_type._cached_bind_processor(dialect) is not None
        ):
            return None
    return compiled.string, tuple(where[name] for name in order)


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
