from __future__ import annotations

import subprocess
import sys

import tracelake.client


def test_all_is_complete_and_sorted() -> None:
    exported = tracelake.client.__all__
    assert exported == sorted(exported)
    public = {name for name in vars(tracelake.client) if not name.startswith("_")}
    modules = {name for name in public if type(getattr(tracelake.client, name)).__name__ == "module"}
    assert public - modules - {"annotations"} == set(exported)


def test_the_client_needs_only_the_model_and_httpx() -> None:
    code = (
        "import sys, tracelake.client\n"
        "heavy = ('sqlalchemy', 'alembic', 'tracelake.store', 'tracelake.query', 'tracelake.ingest',"
        " 'tracelake.server', 'tracelake.cli', 'fastapi', 'opentelemetry.sdk')\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in heavy or '.'.join(m.split('.')[:2]) in heavy))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"
