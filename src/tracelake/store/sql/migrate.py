"""Bring a database to the newest schema when a store opens.

Opening an up-to-date database costs two small queries: the revision is read from Alembic's
`alembic_version` table and compared with `HEAD_REVISION`, without loading the migration scripts
or even importing Alembic (whose modules would otherwise stay in every app using the embedded
store: about 20,000 more objects for every full garbage collection to walk).
Otherwise the upgrade runs in one transaction that first takes a lock (SQLite: `BEGIN IMMEDIATE`;
PostgreSQL: a transaction-scoped advisory lock) and re-reads the revision under it, so two processes
opening a fresh database at once run the migrations once. Should the upgrade still fail, the
revision is checked again: if another process got there first, that is success.

No `alembic.ini` is needed: the configuration is built in code from this package's folder, so it
works from an installed wheel.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import Connection, Engine, inspect, text

from tracelake.exceptions import StoreError
from tracelake.store.sql.engine import write_transaction
from tracelake.store.sql.errors import translate_errors

#: The newest revision in `migrations/versions/`; a test keeps the two in step.
HEAD_REVISION = "0009"

MIGRATIONS_DIR = Path(__file__).parent / "migrations"

if TYPE_CHECKING:
    from alembic.config import Config

# Key of the PostgreSQL advisory lock held while migrating ("tlmigrat" as an int64).
_PG_LOCK_KEY = 0x746C6D6967726174


def analyze_indexes(connection: Connection, names: Sequence[str]) -> None:
    """Give indexes a migration just built SQLite planner statistics (a bounded `ANALYZE` each).

    Only when the database has statistics at all: a plan chosen from one index's statistics and
    another's defaults can be far worse than one from defaults alone. PostgreSQL's autovacuum keeps
    statistics of tables, not of indexes, so nothing is done there.
    """
    if connection.dialect.name != "sqlite":
        return
    if not connection.execute(text("SELECT 1 FROM sqlite_master WHERE name = 'sqlite_stat1'")).first():
        return
    connection.execute(text("PRAGMA analysis_limit = 1000"))
    for name in names:
        connection.execute(text(f"ANALYZE {name}"))


def alembic_config(connection: Connection | None = None) -> Config:
    """Return an Alembic `Config` for tracelake's migrations, optionally bound to a connection."""
    from alembic.config import Config

    config = Config()
    # Options go through configparser, which treats '%' as interpolation.
    config.set_main_option("script_location", str(MIGRATIONS_DIR).replace("%", "%%"))
    if connection is not None:
        config.attributes["connection"] = connection
    return config


def script_heads() -> tuple[str, ...]:
    """Return the head revisions of the migration scripts (loads the scripts; used by tests)."""
    from alembic.script import ScriptDirectory

    return tuple(ScriptDirectory.from_config(alembic_config()).get_heads())


def current_revisions(connection: Connection) -> tuple[str, ...]:
    """Return the revisions the database is at (empty for a fresh database)."""
    if not inspect(connection).has_table("alembic_version"):
        return ()
    return tuple(connection.execute(text("SELECT version_num FROM alembic_version")).scalars())


def _at_head(engine: Engine) -> bool:
    with engine.connect() as connection:
        return current_revisions(connection) == (HEAD_REVISION,)


def upgrade_to_head(engine: Engine) -> None:
    """Migrate the database behind `engine` to `HEAD_REVISION` unless it is there already.

    Raises:
        StoreError: the migration failed, or the database was written by a newer tracelake.
    """
    with translate_errors("check the database schema"):
        if _at_head(engine):
            return
    try:
        with translate_errors("migrate the database schema"):
            _upgrade(engine)
    except StoreError:
        # Another process may have migrated between our check and our attempt (or won a race the
        # lock did not cover, e.g. on a database without advisory locks): re-check before failing.
        with translate_errors("check the database schema"):
            if _at_head(engine):
                return
        raise


def _upgrade(engine: Engine) -> None:
    with write_transaction(engine) as connection:
        if connection.dialect.name == "postgresql":
            connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _PG_LOCK_KEY})
        revisions = current_revisions(connection)
        if revisions == (HEAD_REVISION,):
            return
        known = set(_all_revisions())
        unknown = [revision for revision in revisions if revision not in known]
        if unknown:
            raise StoreError(
                f"the database schema is at revision {', '.join(unknown)}, which this version of tracelake"
                f" does not know (its newest is {HEAD_REVISION}): upgrade tracelake"
            )
        from alembic import command
        from alembic.util import CommandError

        try:
            command.upgrade(alembic_config(connection), "head")
        except CommandError as exc:
            raise StoreError(f"migrate the database schema: {exc}") from exc


def _all_revisions() -> list[str]:
    from alembic.script import ScriptDirectory

    script = ScriptDirectory.from_config(alembic_config())
    return [revision.revision for revision in script.walk_revisions()]
