"""SQLAlchemy engines for SQLite (embedded, the default) and PostgreSQL (server deployments).

SQLite is tuned for one file shared by several processes (an app and a `tracelake server`):
WAL so readers never block the writer, `synchronous=NORMAL` (durable across a crash of the
application; only a power loss can drop the last transactions), a busy timeout so a writer waits
for another process's write instead of failing, and foreign keys on so deletes cascade.

Write transactions on SQLite start with `BEGIN IMMEDIATE`: the write lock is taken up front, so two
processes never both read in a deferred transaction and then fail to upgrade to writing (which
SQLite reports as "database is locked" at once, without waiting for the busy timeout). Before that
they queue (writer_queue.py), so a waiting writer starts as soon as the lock is free instead of
when SQLite's busy handler next wakes up.
"""

from __future__ import annotations

import sqlite3
import time
import weakref
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from pathlib import Path
from typing import Any, Final

from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError

from tracelake.exceptions import StoreError
from tracelake.store.sql.checkpoint import WRITER_AUTOCHECKPOINT_PAGES
from tracelake.store.sql.errors import translate_errors
from tracelake.store.sql.writer_queue import WriterQueue, lock_path_of

#: Execution option that makes the SQLite begin hook take the write lock up front.
WRITE_TRANSACTION = "tracelake_write_transaction"

DEFAULT_BUSY_TIMEOUT_S = 30.0

# The writer queue of each SQLite engine (an Engine has no slot for our own state).
_WRITER_QUEUES: weakref.WeakKeyDictionary[Engine, WriterQueue] = weakref.WeakKeyDictionary()


def parse_database_url(database_url: str | URL) -> URL:
    """Parse a database URL, mapping `postgresql://` and `postgres://` to the psycopg 3 driver.

    Raises:
        StoreError: the URL is malformed or names a database other than SQLite or PostgreSQL.
    """
    try:
        url = make_url(database_url)
    except ArgumentError as exc:
        raise StoreError(f"invalid database URL {str(database_url)!r}: {exc}") from exc
    if url.drivername in ("postgresql", "postgres"):
        url = url.set(drivername="postgresql+psycopg")
    backend = url.get_backend_name()
    if backend not in ("sqlite", "postgresql"):
        raise StoreError(f"unsupported database {backend!r}: use sqlite:///path/to/file.db or postgresql://…")
    return url


def create_store_engine(database_url: str | URL, *, busy_timeout_s: float = DEFAULT_BUSY_TIMEOUT_S) -> Engine:
    """Create the engine of a store.

    Args:
        database_url: `sqlite:///relative.db`, `sqlite:////absolute.db`, or `postgresql://…`.
        busy_timeout_s: how long a SQLite writer waits for another process's write lock.

    Raises:
        StoreError: the URL is invalid, is an in-memory SQLite database, or the driver is missing.
    """
    url = parse_database_url(database_url)
    if url.get_backend_name() == "sqlite":
        return _sqlite_engine(url, busy_timeout_s)
    return _postgres_engine(url)


#: Each connection's page cache (SQLite's default is 2 MiB). A search starting from a rare value
#: reads a few hundred rows scattered over a large database through the same upper B-tree pages,
#: which 2 MiB evicted within one query at a million traces (bench_search, one user's traces: p50
#: 14.9 ms with 2 MiB, 12.1 ms with 16 MiB). A cache grows only as pages are read, up to this.
_PAGE_CACHE_KIB: Final = 16 * 1024


def _enable_wal(cursor: Any, busy_timeout_s: float) -> None:
    """Switch the file to WAL, waiting out other processes doing the same on a new database.

    `PRAGMA journal_mode = WAL` does not honour the busy timeout, so processes that open a fresh
    database at once would otherwise fail with "database is locked".
    """
    deadline = time.monotonic() + busy_timeout_s
    delay = 0.005
    while True:
        try:
            if cursor.execute("PRAGMA journal_mode").fetchone()[0] == "wal":
                return
            cursor.execute("PRAGMA journal_mode = WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() + delay > deadline:
                raise
        time.sleep(delay)
        delay = min(delay * 2, 0.1)


def _sqlite_engine(url: URL, busy_timeout_s: float) -> Engine:
    database = url.database
    if not database or database == ":memory:" or database.startswith("file:") or "mode=memory" in str(url):
        # Each pooled connection would see its own empty in-memory database; the payload objects
        # need a folder anyway. Tests use a file under a temporary directory instead.
        raise StoreError("an in-memory SQLite database cannot back a store: give a file path (sqlite:///path.db)")
    path = Path(database).expanduser()
    with translate_errors(f"create the folder of {path}"):
        path.parent.mkdir(parents=True, exist_ok=True)
    url = url.set(database=str(path))
    engine = create_engine(url, connect_args={"timeout": busy_timeout_s})
    busy_ms = int(busy_timeout_s * 1000)

    @event.listens_for(engine, "connect")
    def _configure(dbapi_connection: Any, _record: Any) -> None:
        # Take transaction control away from the sqlite3 module (its legacy mode never emits BEGIN
        # for SELECTs or DDL); the begin hook below emits BEGIN itself.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute(f"PRAGMA busy_timeout = {busy_ms}")
            _enable_wal(cursor, busy_timeout_s)
            cursor.execute("PRAGMA synchronous = NORMAL")
            cursor.execute("PRAGMA foreign_keys = ON")
            cursor.execute(f"PRAGMA cache_size = -{_PAGE_CACHE_KIB}")
            # Checkpoints run on a thread of their own (checkpoint.py); at this mark a writer copies
            # what that thread has not, which is what restarts the log under continuous writes.
            cursor.execute(f"PRAGMA wal_autocheckpoint = {WRITER_AUTOCHECKPOINT_PAGES}")
        finally:
            cursor.close()

    @event.listens_for(engine, "begin")
    def _begin(connection: Connection) -> None:
        immediate = connection.get_execution_options().get(WRITE_TRANSACTION, False)
        connection.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

    queue = _WRITER_QUEUES[engine] = WriterQueue(lock_path_of(path), busy_timeout_s)
    weakref.finalize(engine, queue.close)
    return engine


def _postgres_engine(url: URL) -> Engine:
    try:
        # pre-ping: server replicas keep pools for days; a restarted PostgreSQL must not surface
        # as a failed request.
        return create_engine(url, pool_pre_ping=True)
    except ModuleNotFoundError as exc:
        raise StoreError(
            f"PostgreSQL needs the psycopg driver ({exc.name} is missing): pip install 'tracelake[postgres]'"
        ) from exc


@contextmanager
def write_transaction(engine: Engine) -> Iterator[Connection]:
    """Open a connection in a write transaction; commit on success, roll back on error.

    On SQLite the transaction takes the database's write lock at once (`BEGIN IMMEDIATE`), after
    its turn in the database's writer queue.
    """
    queue = _WRITER_QUEUES.get(engine)
    with (
        nullcontext() if queue is None else queue.held(),
        engine.connect().execution_options(**{WRITE_TRANSACTION: True}) as connection,
        connection.begin(),
    ):
        yield connection


@contextmanager
def read_connection(engine: Engine) -> Iterator[Connection]:
    """Open a connection for reads; its implicit transaction is rolled back on exit."""
    with engine.connect() as connection:
        yield connection
