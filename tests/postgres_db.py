"""Throwaway PostgreSQL databases for tests, shared by every test package.

`TRACELAKE_TEST_POSTGRES_URL` names a server (scripts/test.sh sets it when one answers); it is read
at import, before the root conftest scrubs TRACELAKE_* variables from each test's environment.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
import sqlalchemy as sa

POSTGRES_ENV = "TRACELAKE_TEST_POSTGRES_URL"
POSTGRES_SERVER = os.environ.get(POSTGRES_ENV)
SKIP_REASON = f"{POSTGRES_ENV} is not set"

#: Parametrize a test over both databases; the PostgreSQL case skips without a server.
BACKENDS = [
    "sqlite",
    pytest.param(
        "postgresql",
        marks=[pytest.mark.postgres, pytest.mark.skipif(not POSTGRES_SERVER, reason=SKIP_REASON)],
    ),
]


def server_url() -> sa.URL:
    """The configured server's URL with the psycopg 3 driver (a bare postgresql:// means psycopg2)."""
    if not POSTGRES_SERVER:
        pytest.skip(SKIP_REASON)
    url = sa.make_url(POSTGRES_SERVER)
    return url.set(drivername="postgresql+psycopg") if url.drivername in ("postgresql", "postgres") else url


@contextmanager
def postgres_database(prefix: str) -> Iterator[sa.URL]:
    """Create an empty database named `<prefix>_<random>` on the configured server; drop it afterwards."""
    server = server_url()
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(server, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as connection:
            connection.execute(sa.text(f'CREATE DATABASE "{name}"'))
        try:
            yield server.set(database=name)
        finally:
            with admin.connect() as connection:
                connection.execute(sa.text(f'DROP DATABASE "{name}" WITH (FORCE)'))
    finally:
        admin.dispose()
