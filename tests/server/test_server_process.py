"""The real `tracelake server` process, talked to as senders do: one process, and several."""

from __future__ import annotations

import json
import os
import queue
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
from opentelemetry.exporter.otlp.proto.http import Compression
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor

import tracelake

from .otlp_data import JSON, PROTOBUF, otlp_json, protobuf, spans, trace_id

SRC = Path(__file__).resolve().parents[2] / "src"
DEADLINE_S = 60.0


def _wait_until(condition: object, what: str) -> None:
    deadline = time.monotonic() + DEADLINE_S
    while not condition():  # type: ignore[operator]
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


@contextmanager
def serving(home: Path, cwd: Path, *options: str) -> Iterator[str]:
    """Run `tracelake server --port 0 [options]` over `home` until the block ends; yield its URL."""
    env = {key: value for key, value in os.environ.items() if not key.startswith(("TRACELAKE_", "OTEL_"))}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(SRC), env.get("PYTHONPATH")]))
    command = [sys.executable, "-m", "tracelake.cli", "--home", str(home), "server", "--port", "0", *options]
    with subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env, cwd=cwd
    ) as process:
        assert process.stdout is not None
        output = process.stdout
        lines: queue.Queue[str] = queue.Queue()
        reader = threading.Thread(target=lambda: [lines.put(line) for line in output], daemon=True)
        reader.start()
        try:
            first = lines.get(timeout=DEADLINE_S)
            assert " listening on http://127.0.0.1:" in first, first
            url = first.rsplit(" ", 1)[-1].strip()

            def healthy() -> bool:
                try:
                    return httpx.get(f"{url}/health", timeout=2).status_code == 200
                except httpx.TransportError:
                    return False

            _wait_until(healthy, "the server to answer /health")
            yield url
        finally:
            process.send_signal(signal.SIGINT)
            try:
                assert process.wait(timeout=DEADLINE_S) == 0  # a graceful stop
            finally:
                if process.poll() is None:
                    process.kill()
                reader.join(DEADLINE_S)


@pytest.fixture
def server(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """`tracelake server --port 0` over an embedded store the SDK wrote first; yields (URL, home)."""
    home = tmp_path / "data"
    tracelake.configure(home=str(home), experiment_name="embedded-app")

    @tracelake.trace
    def answer(question: str) -> str:
        return question.upper()

    answer("from the sdk")
    assert tracelake.flush(30)
    tracelake.shutdown()
    with serving(home, tmp_path) as url:
        yield url, home


def test_real_server_takes_spans_from_the_opentelemetry_exporter_and_otlp_json(server: tuple[str, Path]) -> None:
    url, _ = server
    with httpx.Client(base_url=url, timeout=30) as http:
        # The SDK's embedded traces are there: the server serves the folder the app wrote.
        sdk_traces = http.post("/api/v1/traces/search", json={"filter": "name LIKE '%answer'"}).json()["traces"]
        assert len(sdk_traces) == 1
        embedded = http.get("/api/v1/experiments/by-name/embedded-app").json()["experiment"]
        assert sdk_traces[0]["info"]["experiment_id"] == embedded["experiment_id"]

        # Any OpenTelemetry SDK: the official OTLP/HTTP protobuf exporter, gzip-compressed.
        exporter = OTLPSpanExporter(
            endpoint=f"{url}/v1/traces",
            headers={"x-tracelake-experiment-name": "otel-app"},
            compression=Compression.Gzip,
        )
        provider = TracerProvider(resource=Resource.create({"service.name": "checkout"}))
        provider.add_span_processor(BatchSpanProcessor(exporter))
        tracer = provider.get_tracer("shop")
        with tracer.start_as_current_span("checkout") as root:
            root.set_attribute("input.value", json.dumps({"cart": 3}))
            for step in ("reserve", "charge"):
                with tracer.start_as_current_span(step):
                    pass
        otel_trace_id = f"{root.get_span_context().trace_id:032x}"
        assert provider.force_flush(30_000)
        provider.shutdown()

        trace = http.get(f"/api/v1/traces/{otel_trace_id}").json()["trace"]
        assert trace["info"]["span_count"] == 3
        assert trace["info"]["name"] == "checkout"
        assert trace["info"]["metadata"]["service_name"] == "checkout"
        assert sorted(span["name"] for span in trace["data"]["spans"]) == ["charge", "checkout", "reserve"]
        otel_app = http.get("/api/v1/experiments/by-name/otel-app").json()["experiment"]
        assert trace["info"]["experiment_id"] == otel_app["experiment_id"]

        # OTLP/JSON from a plain HTTP client, twice: stored once.
        for _ in range(2):
            response = http.post("/v1/traces", content=otlp_json(spans(3)), headers=JSON)
            assert response.status_code == 200
            assert response.json() == {}
        assert http.get(f"/api/v1/traces/{trace_id(3)}").json()["trace"]["info"]["span_count"] == 3


def test_senders_in_parallel_store_every_span_once_across_server_processes(tmp_path: Path) -> None:
    senders, requests_each, traces_each = 4, 6, 5

    def send(sender: int) -> list[int]:
        statuses = []
        with httpx.Client(timeout=60) as http:
            for request in range(requests_each):
                first = 1 + (sender * requests_each + request) * traces_each
                body = protobuf(*(spans(n) for n in range(first, first + traces_each)))
                for _ in range(2):  # every request twice, as a sender retrying after a timeout would
                    headers = {**PROTOBUF, "x-tracelake-experiment-name": "parallel"}
                    statuses.append(http.post(f"{url}/v1/traces", content=body, headers=headers).status_code)
        return statuses

    with serving(tmp_path / "data", tmp_path, "--workers", "2") as url:
        with ThreadPoolExecutor(senders) as pool:
            statuses = [status for result in pool.map(send, range(senders)) for status in result]
        assert statuses == [200] * (senders * requests_each * 2)
        found: dict[str, int] = {}
        token = None
        with httpx.Client(base_url=url, timeout=30) as http:
            while True:
                page = http.post("/api/v1/traces/search", json={"max_results": 50, "page_token": token}).json()
                found.update({trace["info"]["trace_id"]: trace["info"]["span_count"] for trace in page["traces"]})
                token = page["next_page_token"]
                if token is None:
                    break
    expected = {trace_id(n): 3 for n in range(1, 1 + senders * requests_each * traces_each)}
    assert found == expected
