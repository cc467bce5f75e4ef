from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

SRC = Path(__file__).resolve().parents[2] / "src"


@dataclass(frozen=True)
class CliResult:
    code: int
    stdout: str
    stderr: str

    def json_lines(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.stdout.splitlines() if line.strip()]


def run_cli(home: Path, *args: str, stdin: str | None = None) -> CliResult:
    """Run `python -m tracelake.cli --home HOME ARGS…` as a user would, in a clean environment.

    `PYTHONPATH` points at this checkout's `src`, so the tests run the code under test whether or not
    the package is installed.
    """
    env = {key: value for key, value in os.environ.items() if not key.startswith(("TRACELAKE_", "OTEL_"))}
    # Wide and colourless, so table cells are neither wrapped nor full of escape codes.
    env |= {"COLUMNS": "300", "NO_COLOR": "1", "TERM": "dumb"}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(SRC), env.get("PYTHONPATH")]))
    completed = subprocess.run(
        [sys.executable, "-m", "tracelake.cli", "--home", str(home), *args],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        cwd=home,  # a forgotten --home would write ./tracelake-data here, not into the repository
        check=False,
    )
    return CliResult(completed.returncode, completed.stdout, completed.stderr)


@dataclass(frozen=True)
class Quickstart:
    home: Path
    result: CliResult
    traces: list[dict[str, Any]]

    def by_state(self, state: str) -> list[dict[str, Any]]:
        return [info for info in self.traces if info["state"] == state]


def run_quickstart(home: Path, *args: str) -> Quickstart:
    result = run_cli(home, "quickstart", *args)
    assert result.code == 0, result.stderr
    found = run_cli(home, "traces", "search", "--experiment", "quickstart", "--json")
    assert found.code == 0, found.stderr
    return Quickstart(home, result, found.json_lines())


class Cli:
    """The `cli` fixture: `cli(home, "traces", "search")`, `cli.quickstart(home, "--traces", "3")`."""

    def __call__(self, home: Path, *args: str, stdin: str | None = None) -> CliResult:
        return run_cli(home, *args, stdin=stdin)

    def quickstart(self, home: Path, *args: str) -> Quickstart:
        return run_quickstart(home, *args)


@pytest.fixture(scope="session")
def cli() -> Cli:
    return Cli()


@pytest.fixture(scope="module")
def quickstart(tmp_path_factory: pytest.TempPathFactory) -> Quickstart:
    """One quickstart run (six requests, one failing) whose traces the read-only tests share."""
    return run_quickstart(tmp_path_factory.mktemp("quickstart"))
