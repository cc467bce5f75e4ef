"""`tracelake scorers …` as a user runs it: a subprocess over an embedded home."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from cli.conftest import run_cli
from store.builders import make_batch, make_span
from tracelake.model import Span
from tracelake.monitoring import scorer
from tracelake.store import open_embedded_store

DAY_MS = 86_400_000


def recent_trace(n: int, age_ms: int) -> Any:
    now = time.time_ns() // 1_000_000
    root: Span = make_span(n, 1, None, 0, 100, name="agent", inputs={"q": n}, outputs="x" * n)
    shift = (now - age_ms - root.start_time_ns // 1_000_000) * 1_000_000
    from dataclasses import replace

    return make_batch([replace(root, start_time_ns=root.start_time_ns + shift, end_time_ns=root.end_time_ns + shift)])  # type: ignore[operator]


def test_backfill_status_stop_start_delete(tmp_path: Path) -> None:
    @scorer
    def short(outputs: Any) -> bool:
        return len(str(outputs)) < 5

    with open_embedded_store(tmp_path) as store:
        experiment = store.create_experiment("support-agent").experiment_id
        store.write_batches(experiment, [recent_trace(n, n * DAY_MS // 2) for n in range(1, 21)])
        short.register(experiment="support-agent", store=store)

    listed = run_cli(tmp_path, "scorers", "list")
    assert listed.code == 0, listed.stderr
    assert listed.stdout.splitlines()[1].split()[:6] == ["support-agent", "short", "1", "code", "active", "100%"]

    result = run_cli(tmp_path, "scorers", "backfill", "short", "--experiment", "support-agent", "--since", "7d")
    assert result.code == 0, result.stderr
    # Traces are half a day apart: 13 of them are under 7 days old (the 14th is exactly 7 days).
    assert "Backfill of 'short': 13 judged, 0 skipped, 0 failed" in result.stdout
    assert "scoring with short" in result.stderr and "13/13" in result.stderr  # the progress bar

    again = run_cli(tmp_path, "scorers", "backfill", "short", "-e", "support-agent", "--since", "30d")
    assert "Backfill of 'short': 7 judged" in again.stdout  # only what was not judged yet

    [status] = run_cli(tmp_path, "scorers", "status", "-e", "support-agent", "--json").json_lines()
    assert status["runs"] == {"done": 20} and status["version"] == 1 and status["last_error"] is None

    assert run_cli(tmp_path, "scorers", "stop", "short", "-e", "support-agent").code == 0
    assert run_cli(tmp_path, "scorers", "list", "--json").json_lines()[0]["state"] == "stopped"
    assert run_cli(tmp_path, "scorers", "start", "short", "-e", "support-agent").code == 0

    refused = run_cli(tmp_path, "scorers", "delete", "short", "-e", "support-agent")
    assert refused.code == 2 and "add --yes" in refused.stderr
    assert run_cli(tmp_path, "scorers", "delete", "short", "-e", "support-agent", "--yes").code == 0
    assert "No scorers registered." in run_cli(tmp_path, "scorers", "list").stdout

    with open_embedded_store(tmp_path) as store:
        judged = [t for t in store.list_experiments() if t.name == "support-agent"]
        assert judged  # the assessments stay after the registration is deleted
        infos = store.get_trace_infos([f"{n:032x}" for n in range(1, 21)])
        assert sum(len(store.list_assessments(info.trace_id)) for info in infos) == 20


def test_errors_are_one_line(tmp_path: Path) -> None:
    with open_embedded_store(tmp_path) as store:
        store.create_experiment("support-agent")
    missing = run_cli(tmp_path, "scorers", "backfill", "nope", "-e", "support-agent")
    assert missing.code != 0
    assert missing.stderr.strip().count("\n") == 0 and "no scorer named 'nope'" in missing.stderr
    bad = run_cli(tmp_path, "scorers", "backfill", "nope", "-e", "support-agent", "--since", "soon")
    assert bad.code == 2 and "invalid duration 'soon'" in bad.stderr
