from __future__ import annotations

import subprocess
import sys

import tracelake.agents


def test_all_is_sorted_and_every_name_resolves() -> None:
    exported = tracelake.agents.__all__
    assert exported == sorted(exported)
    for name in exported:
        assert getattr(tracelake.agents, name) is not None, name


def test_import_tracelake_agents_stays_light_and_tracelake_exposes_it_lazily() -> None:
    code = (
        "import sys, tracelake\n"
        "assert 'tracelake.agents' not in sys.modules and 'pydantic' not in sys.modules\n"
        "tracelake.agents.ResponsesAgent\n"
        "heavy = ('sqlalchemy', 'starlette', 'uvicorn', 'fastapi', 'tracelake.store', 'tracelake.server')\n"
        "print(sorted(m for m in sys.modules if m.startswith(heavy)))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"
