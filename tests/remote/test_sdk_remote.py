"""The SDK in remote mode: the same app code, pointed at a server with environment variables only."""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

import tracelake
from tracelake.tracing import ExportStats

from .otlp_server import OtlpRecorder, plain

# Flush tells acknowledged spans from spooled ones once the exporter reads the sink's report.
SPOOL_AWARE_FLUSH = "spooled" in {f.name for f in dataclasses.fields(ExportStats)}
needs_spool_aware_flush = pytest.mark.skipif(
    not SPOOL_AWARE_FLUSH, reason="BatchExporter does not read the sink's DeliveryReport yet"
)


@tracelake.trace(span_type="TOOL")
def lookup(order_id: str) -> dict[str, str]:
    return {"order_id": order_id, "status": "shipped"}


@tracelake.trace(span_type="AGENT")
def answer(question: str, order_id: str) -> str:
    tracelake.update_current_trace(tags={"team": "care"}, client_request_id=f"req-{order_id}")
    return f"Order {lookup(order_id)['order_id']} shipped."


@pytest.fixture
def server() -> Iterator[OtlpRecorder]:
    recorder = OtlpRecorder().start()
    yield recorder
    recorder.hold.set()
    recorder.stop()


@pytest.fixture
def remote_env(server: OtlpRecorder, monkeypatch: pytest.MonkeyPatch) -> OtlpRecorder:
    monkeypatch.setenv("TRACELAKE_TRACKING_URI", server.url)
    monkeypatch.setenv("TRACELAKE_EXPERIMENT_NAME", "support-agent")
    monkeypatch.setenv("TRACELAKE_EXPORT_INTERVAL_MS", "50")
    return server


def spool_files() -> list[Path]:
    root = Path(os.environ["TRACELAKE_HOME"]) / "spool"
    return sorted(root.rglob("*.otlp")) if root.exists() else []


def test_app_code_sends_to_the_server_with_environment_variables_only(
    remote_env: OtlpRecorder, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TRACELAKE_TOKEN", "tl-secret")
    assert answer("where is my order?", "A-1") == "Order A-1 shipped."
    assert tracelake.flush(30) is True
    assert sorted(remote_env.accepted_names()) == ["answer", "lookup"]
    (request,) = remote_env.accepted()
    assert request.headers["x-tracelake-experiment-name"] == "support-agent"
    assert request.headers["authorization"] == "Bearer tl-secret"
    spans = {s.name: s for s in request.spans}
    assert spans["lookup"].parent_span_id == spans["answer"].span_id
    assert spans["lookup"].trace_id == spans["answer"].trace_id
    attributes = {kv.key: plain(kv.value) for kv in spans["answer"].attributes}
    assert json.loads(attributes["tracelake.span.inputs"]) == {"question": "where is my order?", "order_id": "A-1"}
    assert not spool_files()


def test_an_experiment_id_travels_in_its_header(remote_env: OtlpRecorder, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRACELAKE_EXPERIMENT_ID", "42")
    lookup("A-2")
    assert tracelake.flush(30) is True
    assert remote_env.accepted()[0].headers["x-tracelake-experiment-id"] == "42"


def test_while_the_server_is_down_spans_wait_on_disk_and_arrive_in_order_later(remote_env: OtlpRecorder) -> None:
    remote_env.stop()
    for i in range(3):
        with tracelake.start_span(f"outage-{i}"):
            pass
        flushed = tracelake.flush(30)  # one batch per span, to check their order on arrival
        if SPOOL_AWARE_FLUSH:
            assert flushed is False  # kept, but not acknowledged
    assert len(spool_files()) == 3
    remote_env.start()
    remote_env.wait_for_spans(3)
    assert remote_env.accepted_names() == ["outage-0", "outage-1", "outage-2"]
    remote_env.wait_for(lambda _: not spool_files())


@needs_spool_aware_flush
def test_export_stats_count_spooled_spans(remote_env: OtlpRecorder) -> None:
    remote_env.stop()
    lookup("A-3")
    assert tracelake.flush(30) is False
    stats = tracelake.export_stats()
    assert stats is not None
    assert (stats.spooled, stats.failed, stats.exported) == (1, 0, 0)


def test_a_hung_server_never_holds_up_the_app(remote_env: OtlpRecorder, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRACELAKE_EXPORT_TIMEOUT_MS", "300")
    remote_env.hold.clear()  # every request hangs until released
    results = [answer("q", f"B-{i}") for i in range(200)]
    # Reaching this line while the server still hangs is the point: the app never waited for it.
    assert len(results) == 200
    assert remote_env.hold.is_set() is False
    flushed = tracelake.flush(0.05)  # a flush with a deadline does not hang either
    if SPOOL_AWARE_FLUSH:
        assert flushed is False  # nothing can have been acknowledged by a server that hangs
    remote_env.hold.set()
    remote_env.wait_for(lambda r: len(set(r.accepted_names())) == 2 and len(r.accepted_names()) >= 400)


def test_spool_folder_and_size_come_from_the_environment(
    remote_env: OtlpRecorder, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("TRACELAKE_SPOOL_DIR", str(tmp_path / "my-spool"))
    remote_env.stop()
    lookup("C-1")
    tracelake.flush(30)
    (folder,) = (tmp_path / "my-spool").iterdir()
    assert folder.name.startswith("127.0.0.1_")
    assert len(list(folder.glob("*.otlp"))) == 1


def test_spooling_can_be_turned_off(remote_env: OtlpRecorder, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRACELAKE_SPOOL_MAX_BYTES", "0")
    remote_env.stop()
    lookup("C-2")
    assert tracelake.flush(30) is (not SPOOL_AWARE_FLUSH)
    assert not spool_files()
    if SPOOL_AWARE_FLUSH:
        assert tracelake.export_stats().failed == 1  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("variable", "value"),
    [("TRACELAKE_SPOOL_MAX_BYTES", "-1"), ("TRACELAKE_EXPORT_TIMEOUT_MS", "0"), ("TRACELAKE_SPOOL_DIR", " ")],
)
def test_bad_remote_settings_name_the_variable(
    remote_env: OtlpRecorder, monkeypatch: pytest.MonkeyPatch, variable: str, value: str
) -> None:
    monkeypatch.setenv(variable, value)
    with pytest.raises(tracelake.ConfigError, match=variable):
        tracelake.configure()


def test_remote_mode_loads_no_store(tmp_path: Path) -> None:
    code = (
        "import sys, tracelake\n"
        "tracelake.configure(tracking_uri='http://127.0.0.1:9')\n"
        "with tracelake.start_span('x'):\n"
        "    pass\n"
        "tracelake.flush(5)\n"
        "print(sorted(m for m in sys.modules if m.startswith(('sqlalchemy', 'alembic', 'tracelake.store'))))\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRACELAKE_")}
    env["TRACELAKE_HOME"] = str(tmp_path)
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env)
    assert result.stdout.strip() == "[]"


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # fork() with threads: what gunicorn does
def test_a_forked_worker_exports_through_its_own_connections(remote_env: OtlpRecorder) -> None:
    lookup("parent")
    assert tracelake.flush(30) is True
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        code = 1
        try:
            with tracelake.start_span("in-child"):
                pass
            code = 0 if tracelake.flush(30) else 2
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    remote_env.wait_for(lambda r: "in-child" in r.accepted_names())
