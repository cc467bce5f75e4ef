"""Fixtures for server tests: an app per test, in-process, over SQLite (and PostgreSQL where it matters).

`TRACELAKE_TEST_POSTGRES_URL` names a PostgreSQL server; tests parametrized with `backend_settings`
get a database of their own there, dropped afterwards.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from postgres_db import BACKENDS
from postgres_db import postgres_database as shared_postgres_database
from tracelake.server import ServerSettings, create_app
from tracelake.store import SqlTraceStore


@contextmanager
def postgres_database() -> Iterator[str]:
    """Create an empty database on the configured server; drop it afterwards."""
    with shared_postgres_database("tracelake_server") as url:
        yield url.render_as_string(hide_password=False)


@pytest.fixture
def settings(tmp_path: Path) -> ServerSettings:
    """Settings over an embedded store in a fresh folder."""
    return ServerSettings.for_home(tmp_path / "home")


@pytest.fixture(params=BACKENDS)
def backend_settings(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[ServerSettings]:
    """Settings over SQLite, then over a fresh PostgreSQL database."""
    if request.param == "sqlite":
        yield ServerSettings.for_home(tmp_path / "home")
        return
    with postgres_database() as url:
        yield ServerSettings(database_url=url, default_artifact_root=str(tmp_path / "artifacts"))


@pytest.fixture
def client(settings: ServerSettings) -> Iterator[TestClient]:
    """A client of a running app (lifespan entered) over the embedded store."""
    with TestClient(create_app(settings)) as test_client:
        yield test_client


@pytest.fixture
def backend_client(backend_settings: ServerSettings) -> Iterator[TestClient]:
    """A client of a running app, once per database backend."""
    with TestClient(create_app(backend_settings)) as test_client:
        yield test_client


@pytest.fixture
def store(client: TestClient) -> SqlTraceStore:
    """The store the app behind `client` serves (to check what requests wrote)."""
    opened: SqlTraceStore = client.app.state.store  # type: ignore[attr-defined]
    return opened


@pytest.fixture
def backend_store(backend_client: TestClient) -> SqlTraceStore:
    opened: SqlTraceStore = backend_client.app.state.store  # type: ignore[attr-defined]
    return opened
