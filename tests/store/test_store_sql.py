from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from tracelake.exceptions import StoreError, TracelakeError
from tracelake.store import SqlTraceStore, TraceStore, open_embedded_store
from tracelake.store.sql.engine import create_store_engine, parse_database_url
from tracelake.store.sql.errors import map_error, translate_errors
from tracelake.store.sql.migrate import HEAD_REVISION, current_revisions, script_heads, upgrade_to_head
from tracelake.store.sql.schema import metadata

from .builders import pack_names, simple_trace, trace_id


def test_head_revision_matches_the_scripts() -> None:
    assert script_heads() == (HEAD_REVISION,)


def test_migrations_create_exactly_the_schema(fresh_database_url: str, tmp_path: Path) -> None:
    with SqlTraceStore(fresh_database_url, str(tmp_path / "a")) as store, store.engine.connect() as connection:
        assert current_revisions(connection) == (HEAD_REVISION,)
        assert compare_metadata(MigrationContext.configure(connection), metadata) == []
        assert set(sa.inspect(connection).get_table_names()) == {*metadata.tables, "alembic_version"}


def test_reopening_does_not_run_alembic(
    fresh_database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with SqlTraceStore(fresh_database_url, str(tmp_path / "a")) as store:
        experiment_id = store.create_experiment("kept").experiment_id
        store.write_batches(experiment_id, [simple_trace(1)])

    def no_upgrade(*args: object, **kwargs: object) -> None:
        raise AssertionError("the fast path should not run alembic")

    monkeypatch.setattr(command, "upgrade", no_upgrade)
    with SqlTraceStore(fresh_database_url, str(tmp_path / "a")) as store:
        assert store.get_experiment_by_name("kept") is not None
        assert len(store.get_spans(trace_id(1))) == 3


def test_a_database_from_a_newer_tracelake_is_refused(fresh_database_url: str, tmp_path: Path) -> None:
    with SqlTraceStore(fresh_database_url, str(tmp_path / "a")) as store, store.engine.begin() as connection:
        connection.execute(sa.text("UPDATE alembic_version SET version_num = '9999'"))

    with pytest.raises(StoreError, match="9999"):
        SqlTraceStore(fresh_database_url, str(tmp_path / "a"))


def test_migration_race_lost_is_not_an_error(
    fresh_database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Another process migrates between our check and our attempt, and our attempt then fails:
    # the store re-checks and opens.
    from tracelake.store.sql import migrate

    engine = create_store_engine(fresh_database_url)
    real_upgrade = migrate._upgrade

    def racing(engine_: sa.Engine) -> None:
        real_upgrade(engine_)
        raise sa.exc.OperationalError("CREATE TABLE", {}, Exception("table experiments already exists"))

    monkeypatch.setattr(migrate, "_upgrade", racing)
    try:
        upgrade_to_head(engine)
        monkeypatch.setattr(migrate, "_at_head", lambda engine_: False)
        with pytest.raises(StoreError, match="already exists"):
            upgrade_to_head(engine)
    finally:
        engine.dispose()


def test_sqlite_settings(tmp_path: Path) -> None:
    engine = create_store_engine(f"sqlite:///{tmp_path / 'deep' / 'er' / 'x.db'}", busy_timeout_s=7)
    try:
        with engine.connect() as connection:
            pragma = {
                name: connection.exec_driver_sql(f"PRAGMA {name}").scalar()
                for name in ("journal_mode", "synchronous", "foreign_keys", "busy_timeout")
            }
    finally:
        engine.dispose()

    assert pragma == {"journal_mode": "wal", "synchronous": 1, "foreign_keys": 1, "busy_timeout": 7000}
    assert (tmp_path / "deep" / "er" / "x.db").exists()


def test_postgres_urls_use_psycopg() -> None:
    assert parse_database_url("postgresql://u@h/db").drivername == "postgresql+psycopg"
    assert parse_database_url("postgres://u@h/db").drivername == "postgresql+psycopg"
    assert parse_database_url("postgresql+psycopg://u@h/db").drivername == "postgresql+psycopg"


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("not a url", "invalid database URL"),
        ("mysql://u@h/db", "unsupported database"),
        ("sqlite://", "in-memory"),
        ("sqlite:///:memory:", "in-memory"),
    ],
)
def test_bad_database_urls(url: str, message: str, tmp_path: Path) -> None:
    with pytest.raises(StoreError, match=message):
        SqlTraceStore(url, str(tmp_path))


def test_unreachable_postgres_is_a_store_error(tmp_path: Path) -> None:
    with pytest.raises(StoreError) as caught:
        SqlTraceStore("postgresql://nobody@127.0.0.1:1/none?connect_timeout=2", str(tmp_path))
    assert not isinstance(caught.value, sa.exc.SQLAlchemyError)


def test_unsupported_default_artifact_root(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match="not supported yet"):
        SqlTraceStore(f"sqlite:///{tmp_path / 'x.db'}", "gs://bucket/artifacts")


def test_driver_errors_are_mapped(store: SqlTraceStore) -> None:
    with pytest.raises(StoreError, match="run query") as caught:
        store.execute_read(sa.text("SELECT * FROM no_such_table"))

    assert isinstance(caught.value.__cause__, sa.exc.SQLAlchemyError)
    assert "[SQL:" not in str(caught.value)


def test_raw_driver_errors_are_mapped() -> None:
    with pytest.raises(StoreError, match="x: disk I/O error"), translate_errors("x"):
        raise sqlite3.OperationalError("disk I/O error")
    with pytest.raises(StoreError, match="x: permission denied"), translate_errors("x"):
        raise PermissionError("permission denied")
    with pytest.raises(KeyError), translate_errors("x"):
        raise KeyError("not a driver error")
    locked = sa.exc.OperationalError("INSERT", {}, sqlite3.OperationalError("database is locked"))
    assert "busy timeout" in str(map_error(locked, "write"))


def test_execute_read(store: SqlTraceStore, experiment_id: str) -> None:
    store.write_batches(experiment_id, [simple_trace(1), simple_trace(2)])

    rows = store.execute_read(sa.text("SELECT trace_id FROM traces ORDER BY trace_id"))

    assert [row.trace_id for row in rows] == [trace_id(1), trace_id(2)]
    assert store.dialect_name in ("sqlite", "postgresql")


def test_the_store_is_a_trace_store(store: SqlTraceStore) -> None:
    assert isinstance(store, TraceStore)


def test_open_embedded_store(tmp_path: Path) -> None:
    home = tmp_path / "new" / "home?#1"
    with open_embedded_store(home) as store:
        experiment = store.get_or_create_experiment("Default")
        store.write_batches(experiment.experiment_id, [simple_trace(1)])

    assert (home / "tracelake.db").is_file()
    assert experiment.artifact_location == str(home / "artifacts" / experiment.experiment_id)
    assert len(pack_names(home / "artifacts" / experiment.experiment_id)) == 1
    with open_embedded_store(str(home)) as again:
        assert again.get_trace_info(trace_id(1)).span_count == 3


def test_errors_derive_from_the_tracelake_root(store: SqlTraceStore) -> None:
    with pytest.raises(TracelakeError):
        store.get_trace_info("missing")
