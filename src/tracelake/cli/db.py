"""`tracelake db upgrade`: bring a database to the newest schema (the server also does it on start)."""

from __future__ import annotations

import argparse

from tracelake.cli._errors import EXIT_OK


def migrate(database_url: str) -> tuple[str, ...]:
    """Migrate the database to the newest schema and return the revisions it is at.

    Raises:
        StoreError: the URL is invalid, the database is unreachable, or the migration failed.
    """
    from tracelake.store.sql.engine import create_store_engine
    from tracelake.store.sql.errors import translate_errors
    from tracelake.store.sql.migrate import current_revisions, upgrade_to_head

    engine = create_store_engine(database_url)
    try:
        upgrade_to_head(engine)
        with translate_errors("read the schema revision"), engine.connect() as connection:
            return current_revisions(connection)
    finally:
        engine.dispose()


def upgrade(args: argparse.Namespace) -> int:
    """Migrate the database named by `--database` (or the embedded store's) and say where it is."""
    from sqlalchemy.engine import make_url

    from tracelake.cli.server import locate

    database_url, _ = locate(args)
    revisions = migrate(database_url)
    shown = make_url(database_url).render_as_string(hide_password=True)
    print(f"Database {shown} is at schema revision {', '.join(revisions) or 'none'}.")
    return EXIT_OK
