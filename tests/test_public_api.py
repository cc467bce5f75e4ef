from __future__ import annotations

import subprocess
import sys

import pytest

import tracelake
import tracelake.model
import tracelake.tracing


@pytest.mark.parametrize("module", [tracelake, tracelake.model, tracelake.tracing])
def test_all_is_complete_and_sorted(module: object) -> None:
    exported = module.__all__  # type: ignore[attr-defined]
    assert exported == sorted(exported)
    public = {name for name in vars(module) if not name.startswith("_")}
    submodules = {name for name in public if type(getattr(module, name)).__name__ == "module"}
    assert public - submodules - {"annotations"} <= set(exported) | {"PagedList"}
    for name in exported:
        assert hasattr(module, name), name


def test_import_tracelake_stays_light() -> None:
    code = (
        "import sys, tracelake\n"
        "heavy = ('sqlalchemy', 'alembic', 'genai_prices', 'tracelake.store', 'tracelake.query',"
        " 'tracelake.ingest', 'tracelake.cli', 'opentelemetry.sdk', 'httpx', 'rich')\n"
        "print(sorted(m for m in sys.modules if m.startswith(heavy)))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"


def test_import_does_not_configure_or_touch_the_disk(tmp_path: object) -> None:
    code = "import os, tracelake\nprint(os.path.exists('tracelake-data'))\n"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=str(tmp_path))
    assert result.stdout.strip() == "False"
