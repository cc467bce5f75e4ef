"""Alembic environment of tracelake's SQL index.

tracelake runs migrations itself when a store opens (`tracelake.store.sql.migrate`), handing over a
connection that is already inside the transaction (and lock) the upgrade must run in. Offline mode
(`alembic upgrade head --sql`, for DBAs who review SQL first) renders against `sqlalchemy.url`.
"""

from __future__ import annotations

from alembic import context

from tracelake.store.sql.schema import metadata


def _run_offline() -> None:
    context.configure(
        url=context.config.get_main_option("sqlalchemy.url"),
        target_metadata=metadata,
        literal_binds=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def _run_online() -> None:
    connection = context.config.attributes.get("connection")
    if connection is None:
        raise RuntimeError("run tracelake migrations through tracelake.store.sql.migrate.upgrade_to_head()")
    context.configure(
        connection=connection,
        target_metadata=metadata,
        # SQLite cannot ALTER most things: later migrations use batch mode (copy and swap tables).
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


if context.is_offline_mode():
    _run_offline()
else:
    _run_online()
