"""Fixtures for query tests: each runs on SQLite, and on PostgreSQL when configured."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import sqlalchemy as sa

from .database import BACKENDS, Db, EngineStore, clear, postgres_database, sqlite_engine


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[sa.URL]:
    with postgres_database() as url:
        yield url


@pytest.fixture(params=BACKENDS)
def db(request: pytest.FixtureRequest) -> Iterator[Db]:
    """An empty database per test."""
    if request.param == "sqlite":
        engine = sqlite_engine()
    else:
        engine = sa.create_engine(request.getfixturevalue("postgres_url"))
        clear(engine)
    try:
        yield Db(engine)
    finally:
        engine.dispose()


@pytest.fixture(scope="module", params=BACKENDS)
def module_db(request: pytest.FixtureRequest) -> Iterator[Db]:
    """A database per test module and backend, for tests that only read what the module loads."""
    if request.param == "sqlite":
        engine = sqlite_engine()
        try:
            yield Db(engine)
        finally:
            engine.dispose()
        return
    with postgres_database() as url:
        engine = sa.create_engine(url)
        try:
            yield Db(engine)
        finally:
            engine.dispose()


@pytest.fixture
def store(db: Db) -> EngineStore:
    return EngineStore(db.engine)
