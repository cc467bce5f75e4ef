"""`tracelake archive …`, `tracelake monitor --once` and `tracelake sql` on an embedded store."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tracelake.cli import main
from tracelake.store import open_embedded_store

from .conftest import agent_trace, feedback


def test_enable_sync_status_and_sql(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    home, lake = tmp_path / "home", tmp_path / "lake"
    with open_embedded_store(home) as store:
        experiment_id = store.create_experiment("support").experiment_id
        store.write_batches(experiment_id, [agent_trace(n) for n in range(1, 8)])
        store.add_assessment(feedback(agent_trace(2).trace_id, "helpful", True))
    base = ["--home", str(home)]

    assert main([*base, "archive", "enable", "-e", "support", "--location", str(lake), "--interval", "30s"]) == 0
    assert "every 30.00 s" in capsys.readouterr().out
    assert main([*base, "archive", "sync", "-e", "support", "--backfill"]) == 0
    assert "Archived 7 traces, 21 spans and 1 assessments" in capsys.readouterr().out

    assert main([*base, "archive", "status", "--json"]) == 0
    (status,) = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert status["last_status"] == "ok" and status["lag_ms"] == 0 and status["location"] == str(lake)
    assert status["rows_written"] == {"traces": 7, "spans": 21, "assessments": 1}

    query = "SELECT span_type, count(*) AS n FROM spans GROUP BY 1 ORDER BY 1"
    assert main([*base, "sql", query, "-e", "support", "--json"]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert rows == [{"span_type": "CHAIN", "n": 14}, {"span_type": "LLM", "n": 7}]

    assert main([*base, "sql", "SELECT nope FROM traces", "-e", "support"]) == 1
    assert "query failed" in capsys.readouterr().err

    # The monitor picks up what changed, once due (enable again: due now).
    with open_embedded_store(home) as store:
        store.write_batches(experiment_id, [agent_trace(8)])
    assert main([*base, "archive", "enable", "-e", "support", "--location", str(lake), "--interval", "1s"]) == 0
    assert main([*base, "archive", "disable", "-e", "support"]) == 0
    assert main([*base, "monitor", "--once"]) == 0  # disabled: nothing synced
    assert main([*base, "archive", "status", "-e", "support"]) == 0
    assert "disabled" in capsys.readouterr().out


def test_sync_without_enable_is_a_clear_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with open_embedded_store(tmp_path / "home") as store:
        store.create_experiment("support")
    assert main(["--home", str(tmp_path / "home"), "archive", "sync", "-e", "support"]) == 1
    assert "run 'tracelake archive enable' first" in capsys.readouterr().err


def test_status_reports_settings_that_were_never_synced(tmp_path: Path) -> None:
    from tracelake.monitoring.archive import settings as st

    with open_embedded_store(tmp_path / "home") as store:
        experiment_id = store.create_experiment("support").experiment_id
        store.write_batches(experiment_id, [agent_trace(1)])
        assert st.get_status(store.engine, experiment_id) is None
        saved = st.configure(store.engine, experiment_id, str(tmp_path / "lake"), 60, enabled=False)
        assert (saved.location, saved.interval_seconds, saved.enabled) == (str(tmp_path / "lake"), 60, False)
        status = st.get_status(store.engine, experiment_id)
        assert status is not None and status.lag_ms >= 0
        view = status.to_dict()
        assert view["enabled"] is False and view["last_status"] is None and view["syncing_now"] is False
        assert view["rows_written"] == {"traces": 0, "spans": 0, "assessments": 0}
        assert [found.settings.experiment_id for found in st.list_status(store.engine)] == [experiment_id]
