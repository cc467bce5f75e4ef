from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from postgres_db import BACKENDS, postgres_database
from tracelake.ingest import prices
from tracelake.store import SqlTraceStore


@pytest.fixture(params=BACKENDS)
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[SqlTraceStore]:
    """A fresh store on SQLite, and on PostgreSQL when one is configured."""
    if request.param == "sqlite":
        with SqlTraceStore(f"sqlite:///{tmp_path / 'tracelake.db'}", str(tmp_path / "artifacts")) as opened:
            yield opened
        return
    with (
        postgres_database("tracelake_cost") as url,
        SqlTraceStore(url.render_as_string(hide_password=False), str(tmp_path / "artifacts")) as opened,
    ):
        yield opened


@pytest.fixture(autouse=True)
def _no_user_prices() -> Iterator[None]:
    """Prices set in code are process-wide: every test starts and ends without any."""
    prices.clear_model_prices()
    yield
    prices.clear_model_prices()
