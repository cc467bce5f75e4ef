from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tracelake.tracing import RUNTIME
from tracelake.tracing._errors import reset_log_once


@pytest.fixture(autouse=True)
def _hermetic_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    """No test sees the developer's TRACELAKE_*/OTEL_* settings or writes outside its tmp folder."""
    for name in list(os.environ):
        if name.startswith(("TRACELAKE_", "OTEL_")) and not name.startswith("TRACELAKE_TEST_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("TRACELAKE_HOME", str(tmp_path / "tracelake-data"))
    reset_log_once()
    yield
    RUNTIME.shutdown(10)
    from tracelake import _setup

    _setup._close_store()
