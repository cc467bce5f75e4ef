"""Latency a serving endpoint adds, with tracing on and off, and requests/s of one endpoint process (issue 4).

A trivial agent (`predict` returns one short text item). Three measurements:

- in process: `agent.predict(request)` called directly, one call at a time, with tracing off
  (`configure(enabled=False)`) and on (embedded store in a temp folder: the AGENT span is recorded);
  per-call p50/p99.
- endpoint: `tracelake.agents.serving.create_endpoint_app` served by uvicorn in its own process
  (one worker, on loopback), tracing off (`EndpointSettings(tracing=False)`) and on (embedded
  store in a temp folder: root span + AGENT span per request, written by the endpoint's
  background threads). An `httpx.AsyncClient` in this process keeps `--concurrency` requests in
  flight (default 50) until `--requests` are answered, after a warm-up; per-request latency p50/p99
  and requests/s (answered requests over the wall time). The two modes alternate for `--rounds`
  rounds; the median round is shown.
- added: endpoint latency minus in-process latency (same tracing mode), and tracing's share:
  p50(on) - p50(off) of the endpoint. Target (issue 4): tracing adds under 2 ms at p50.

The load generator shares the machine with the server: on a 2-core machine the figures include that
contention. Usage: python benchmarks/bench_endpoint.py [--quick] [--json out.json] [--requests N]
[--concurrency K] [--rounds R]
"""

from __future__ import annotations

import asyncio
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
from _bench import emit, parser, table, verdict

TARGET_ADDED_P50_MS = 2.0
REQUEST = {"model": "bench", "input": [{"role": "user", "content": "where is my order?"}]}

_SERVE_CODE = """
import sys, uvicorn
from tracelake.agents import ResponsesAgent, ResponsesResponse, text_output_item
from tracelake.agents.serving import EndpointSettings, create_endpoint_app

class Trivial(ResponsesAgent):
    def predict(self, request):
        return ResponsesResponse(output=[text_output_item("It ships tomorrow.")])

port, tracing, home = int(sys.argv[1]), sys.argv[2] != "off", sys.argv[3]
tracking_uri = sys.argv[4] if len(sys.argv) > 4 else None
settings = EndpointSettings(
    endpoint_name="bench", experiment_name="bench", home=home, tracing=tracing, tracking_uri=tracking_uri,
    freeze_gc=True,  # as `tracelake serve` runs it
)
uvicorn.run(create_endpoint_app(Trivial(), settings), host="127.0.0.1", port=port, log_level="warning",
            access_log=False)
"""

_TRACKING_CODE = """
import sys, uvicorn
from tracelake.server.app import create_app
from tracelake.server.settings import ServerSettings
port = int(sys.argv[2])
app = create_app(ServerSettings.for_home(sys.argv[1], port=port))
uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)
"""
MODES = ("off", "on", "on-server")
_LABELS = {"off": "tracing off", "on": "tracing on (embedded store)", "on-server": "tracing on (to a server)"}


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _percentiles(values_s: list[float]) -> dict[str, float]:
    ordered = sorted(values_s)
    pick = lambda q: ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000  # noqa: E731
    return {"p50_ms": pick(0.50), "p99_ms": pick(0.99), "mean_ms": statistics.fmean(ordered) * 1000}


# In process ----------------------------------------------------------------------------------------
def in_process(tracing: bool, calls: int, home: Path) -> dict[str, float]:
    import tracelake
    from tracelake.agents import ResponsesAgent, ResponsesRequest, ResponsesResponse, text_output_item

    class Trivial(ResponsesAgent):
        def predict(self, request: ResponsesRequest) -> ResponsesResponse:
            return ResponsesResponse(output=[text_output_item("It ships tomorrow.")])

    tracelake.configure(home=str(home), experiment_name="bench-in-process", enabled=tracing)
    agent = Trivial()
    request = ResponsesRequest.model_validate(REQUEST)
    for _ in range(200):
        agent.predict(request)
    tracelake.flush(60)
    times: list[float] = []
    for _ in range(calls):
        t0 = time.perf_counter()
        agent.predict(request)
        times.append(time.perf_counter() - t0)
    tracelake.flush(60)
    return _percentiles(times)


# Endpoint --------------------------------------------------------------------------------------------
class _Server:
    """A uvicorn process on loopback running `code` with `args` (the port is passed as `{port}`)."""

    def __init__(self, code: str, *args: str) -> None:
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        argv = [sys.executable, "-c", code, *(arg.format(port=self.port) for arg in args)]
        env = {k: v for k, v in os.environ.items() if not k.startswith("TRACELAKE_")}
        self.process = subprocess.Popen(argv, env=env)
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(self.url + "/health", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline or self.process.poll() is not None:
                self.stop()
                raise RuntimeError("the endpoint did not start")
            time.sleep(0.05)

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(30)


def _cpu_s(pid: int) -> float:
    """CPU seconds (user + system) a process has used so far, from /proc (all its threads)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _idle_cpu_s(pid: int, timeout: float = 30.0) -> float:
    """The process's CPU seconds once it stopped using CPU (two readings 0.3 s apart agree)."""
    deadline = time.monotonic() + timeout
    previous = _cpu_s(pid)
    while time.monotonic() < deadline:
        time.sleep(0.3)
        current = _cpu_s(pid)
        if current == previous:
            return current
        previous = current
    return previous


async def _load(clients: list[httpx.AsyncClient], requests: int, traced: bool) -> dict[str, float]:
    """Keep one request in flight per client until `requests` are answered."""
    latencies: list[float] = []
    errors = 0
    remaining = requests

    async def worker(client: httpx.AsyncClient) -> None:
        nonlocal remaining, errors
        while remaining > 0:
            remaining -= 1
            t0 = time.perf_counter()
            answer = await client.post("/v1/responses", json=REQUEST)
            latencies.append(time.perf_counter() - t0)
            if answer.status_code != 200 or ("x-tracelake-trace-id" in answer.headers) != traced:
                errors += 1

    started = time.perf_counter()
    await asyncio.gather(*(worker(client) for client in clients))
    wall = time.perf_counter() - started
    result = _percentiles(latencies)
    result["requests_per_s"] = len(latencies) / wall
    result["errors"] = errors
    return result


async def _warm_then_time(
    url: str, pid: int, warmup: int, requests: int, concurrency: int, traced: bool
) -> dict[str, float]:
    # One client (one keep-alive connection) per worker, created and connected during the warm-up:
    # a shared pool of 50 connections, or creating clients (SSL contexts) in the timed part, costs
    # the load generator more CPU than the endpoint it measures.
    clients = [httpx.AsyncClient(base_url=url, timeout=60) for _ in range(concurrency)]
    try:
        await _load(clients, max(warmup, concurrency), traced)
        cpu0 = _cpu_s(pid)
        result = await _load(clients, requests, traced)
    finally:
        await asyncio.gather(*(client.aclose() for client in clients))
    # The traces of the timed requests are written by the endpoint's background threads: their
    # CPU counts too, so wait until the process is idle.
    result["server_cpu_ms_per_request"] = (_idle_cpu_s(pid) - cpu0) * 1000 / requests
    return result


def endpoint_round(mode: str, requests: int, warmup: int, concurrency: int, home: Path) -> dict[str, float]:
    """One round against a fresh endpoint process; `on-server` traces to a tracelake server process."""
    tracking = _Server(_TRACKING_CODE, str(home / "server"), "{port}") if mode == "on-server" else None
    extra = [] if tracking is None else [tracking.url]
    server = _Server(_SERVE_CODE, "{port}", mode, str(home), *extra)
    traced = mode != "off"
    try:
        return asyncio.run(_warm_then_time(server.url, server.process.pid, warmup, requests, concurrency, traced))
    finally:
        server.stop()
        if tracking is not None:
            tracking.stop()


def _median_round(rounds: list[dict[str, float]]) -> dict[str, float]:
    ordered = sorted(rounds, key=lambda r: r["p50_ms"])
    return ordered[len(ordered) // 2] | {"rounds_p50_ms": [r["p50_ms"] for r in rounds]}  # type: ignore[dict-item]


def main() -> None:
    p = parser(__doc__.splitlines()[0])
    p.add_argument("--requests", type=int, help="timed requests per round (default 5000, quick 600)")
    p.add_argument("--concurrency", type=int, default=50, help="requests in flight (default 50)")
    p.add_argument("--rounds", type=int, help="rounds per mode (default 3, quick 1)")
    args = p.parse_args()
    requests = args.requests or (600 if args.quick else 5000)
    rounds = args.rounds or (1 if args.quick else 3)
    calls = 2000 if args.quick else 20000
    with tempfile.TemporaryDirectory(prefix="bench-endpoint-") as folder:
        root = Path(folder)
        local = {mode: in_process(mode == "on", calls, root / f"in-process-{mode}") for mode in ("off", "on")}
        local["on-server"] = local["on"]  # in process, the destination only changes the export thread's work
        runs: dict[str, list[dict[str, float]]] = {mode: [] for mode in MODES}
        for index in range(rounds):
            for mode in MODES:
                home = root / f"endpoint-{mode}-{index}"
                runs[mode].append(endpoint_round(mode, requests, max(100, requests // 10), args.concurrency, home))
    endpoint = {mode: _median_round(values) for mode, values in runs.items()}
    added = {mode: endpoint[mode]["p50_ms"] - local[mode]["p50_ms"] for mode in MODES}
    tracing_p50 = endpoint["on"]["p50_ms"] - endpoint["off"]["p50_ms"]
    result: dict[str, Any] = {
        "benchmark": "endpoint",
        "requests": requests,
        "concurrency": args.concurrency,
        "rounds": rounds,
        "in_process": local,
        "endpoint": endpoint,
        "added_over_in_process_p50_ms": added,
        "tracing_added_p50_ms": tracing_p50,
        "tracing_added_p99_ms": endpoint["on"]["p99_ms"] - endpoint["off"]["p99_ms"],
        "tracing_added_server_cpu_ms_per_request": {
            mode: endpoint[mode]["server_cpu_ms_per_request"] - endpoint["off"]["server_cpu_ms_per_request"]
            for mode in ("on", "on-server")
        },
        "target_tracing_added_p50_ms": TARGET_ADDED_P50_MS,
        "met": tracing_p50 < TARGET_ADDED_P50_MS,
        "cpu_count": os.cpu_count(),
    }
    emit(result, args.json, markdown)


def markdown(r: dict[str, Any]) -> str:
    cpu = r["tracing_added_server_cpu_ms_per_request"]
    rows = []
    for mode in MODES:
        local, served = r["in_process"][mode], r["endpoint"][mode]
        rows.append(
            [
                {"off": "tracing off", "on": "tracing on (embedded store)", "on-server": "tracing on (to a server)"}[
                    mode
                ],
                f"{local['p50_ms'] * 1000:.1f} / {local['p99_ms'] * 1000:.1f}",
                f"{served['p50_ms']:.2f} / {served['p99_ms']:.2f}",
                f"{r['added_over_in_process_p50_ms'][mode]:.2f}",
                f"{served['requests_per_s']:.0f}",
                f"{served['server_cpu_ms_per_request']:.3f}",
                int(served["errors"]),
            ]
        )
    header = ["", "in-process p50 / p99 (µs)", "endpoint p50 / p99 (ms)", "added p50 (ms)", "requests/s"]
    header += ["endpoint CPU/request (ms)", "errors"]
    return (
        f"## Serving endpoint (trivial agent, {r['concurrency']} concurrent requests, {r['requests']} per round)\n\n"
        + table(header, rows)
        + f"\n\nTracing adds {r['tracing_added_p50_ms']:.2f} ms at p50 ({r['tracing_added_p99_ms']:.2f} ms at p99); "
        + f"target < {r['target_tracing_added_p50_ms']:.0f} ms: {verdict(r['met'])}. "
        + "Tracing's CPU in the endpoint process per request (root + AGENT span, export included): "
        + f"{cpu['on']:.3f} ms with the embedded store (its SQLite and payload writes included), "
        + f"{cpu['on-server']:.3f} ms sending to a tracelake server. "
        + f"{r['cpu_count']} cores shared by the load generator, the endpoint and the server.\n"
    )


if __name__ == "__main__":
    main()
