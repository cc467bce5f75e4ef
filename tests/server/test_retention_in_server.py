"""The server enforces experiments' retention settings in the background."""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path

from fastapi.testclient import TestClient

from tracelake.model import Span, SpanStatus, StatusCode, TraceBatch
from tracelake.server import ServerSettings, create_app
from tracelake.store.retention import set_retention

DAY_MS = 86_400_000


def _trace(trace_id: str, start_ms: int) -> TraceBatch:
    start_ns = start_ms * 1_000_000
    span = Span(trace_id, "a" * 16, None, "old", "AGENT", start_ns, start_ns + 1_000, SpanStatus(StatusCode.OK))
    return TraceBatch(trace_id, [span])


def test_expired_traces_are_deleted_while_the_server_runs(tmp_path: Path) -> None:
    settings = dataclasses.replace(ServerSettings.for_home(tmp_path / "home"), retention_interval_s=0.05)
    with TestClient(create_app(settings)) as client:
        store = client.app.state.store  # type: ignore[attr-defined]
        experiment = store.create_experiment("kept-a-week")
        set_retention(store, experiment.experiment_id, 7)
        now_ms = int(time.time() * 1000)
        store.write_batches(
            experiment.experiment_id, [_trace("1" * 32, now_ms - 30 * DAY_MS), _trace("2" * 32, now_ms - DAY_MS)]
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            found = client.post("/api/v1/traces/search", json={"experiment_ids": [experiment.experiment_id]}).json()
            if len(found["traces"]) == 1:
                break
            time.sleep(0.05)
        assert [t["info"]["trace_id"] for t in found["traces"]] == ["2" * 32]
