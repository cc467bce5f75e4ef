"""Fixtures for store tests: every `store` test runs on SQLite, and on PostgreSQL when configured.

`TRACELAKE_TEST_POSTGRES_URL` names a PostgreSQL server (e.g. postgresql://postgres@127.0.0.1:5432/postgres).
A database is created there for the session (emptied before each test) and dropped at the end;
tests of first-open behaviour get a database of their own.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import sqlalchemy as sa

from postgres_db import BACKENDS
from postgres_db import postgres_database as shared_postgres_database
from tracelake.store import SqlTraceStore

_TABLES = (
    "experiments, experiment_tags, traces, trace_tags, trace_metadata, spans, trace_segments, payload_packs,"
    " archive_settings, archive_state, scorers, scorer_runs,"
    " auth_principals, auth_tokens, auth_sessions, auth_permissions, auth_audit_log"
)


@contextmanager
def postgres_database() -> Iterator[str]:
    """Create an empty database on the configured server; drop it afterwards."""
    with shared_postgres_database("tracelake_store") as url:
        yield url.render_as_string(hide_password=False)


@pytest.fixture(scope="session")
def postgres_session_database() -> Iterator[str]:
    with postgres_database() as url:
        yield url


def _empty(url: str) -> None:
    engine = sa.create_engine(url)
    try:
        with engine.begin() as connection:
            exists = connection.execute(sa.text("SELECT to_regclass('experiments') IS NOT NULL")).scalar_one()
            if exists:
                connection.execute(sa.text(f"TRUNCATE {_TABLES} RESTART IDENTITY CASCADE"))
    finally:
        engine.dispose()


@pytest.fixture(params=BACKENDS)
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A database URL with an empty (or not yet created) schema, per test."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'db' / 'tracelake.db'}"
    url: str = request.getfixturevalue("postgres_session_database")
    _empty(url)
    return url


@pytest.fixture(params=BACKENDS)
def fresh_database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A brand-new database that no store has opened yet."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'fresh' / 'tracelake.db'}"
        return
    with postgres_database() as url:
        yield url


@pytest.fixture
def artifact_root(tmp_path: Path) -> Path:
    return tmp_path / "artifacts"


@pytest.fixture
def store(database_url: str, artifact_root: Path) -> Iterator[SqlTraceStore]:
    with SqlTraceStore(database_url, str(artifact_root)) as opened:
        yield opened


@pytest.fixture
def experiment_id(store: SqlTraceStore) -> str:
    return store.create_experiment("traces").experiment_id
