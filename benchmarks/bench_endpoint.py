"""Latency a serving endpoint adds, with tracing on and off, and requests/s of one endpoint process (issue 4).

Every endpoint is `tracelake.agents.serving.create_endpoint_app` served by uvicorn in its own
process as `tracelake serve` runs it (one worker, loopback), with tracing off
(`EndpointSettings(tracing=False)`), on with the embedded store (a temp folder: the endpoint's
background threads write the traces), and on sending to a `tracelake server` (its own process: the
deployed configuration). Every request is one trace: a root span and the agent's AGENT span. An
`httpx.AsyncClient` per simulated user, in this process, keeps `--concurrency` requests in flight
(default 50) until `--requests` are answered, after a warm-up; the three modes alternate for
`--rounds` rounds and the median round is shown. The agents are in benchmarks/_endpoint_agents.py.

**An agent that awaits a model — the row that answers the issue's target** ("latency the endpoint
adds over calling the agent in-process (p50 and p99, tracing on vs off) at 50 concurrent requests:
target under 2 ms p50 added by tracing"). `async def predict` awaits a model call, as an agent
calling an LLM through an async client does; each request's wait is drawn uniformly between 0.5 and
1.5 x `--model-latency-ms` (default 100) and sent in `custom_inputs`, so every latency is measured
beyond its own wait: what the endpoint and tracing add to the model's time. 50 users waiting on a
model make about 500 requests/s, which one endpoint process serves without running out of CPU, and
waits that differ spread their requests over time as real users' are, so these are the latencies a
user of a deployed agent sees. (With one fixed wait the 50 clients stay in lockstep: 50 requests
arrive together every 100 ms and queue behind each other, a burst no user population makes.) In
process: 50 concurrent `await agent.predict(request)` in one event loop, tracing off and on, with
the same waits. Endpoint over in process = endpoint p50/p99 - in-process p50/p99 (same tracing
mode); tracing adds = endpoint p50/p99 with tracing on - with tracing off.

**A trivial agent** (`predict` returns at once). 50 closed-loop clients keep the endpoint process
busy all the time: its requests/s is the figure "requests per second one endpoint process serves
for a trivial agent". Its latencies are queueing in a saturated process (each request waits for the
~50 ahead of it), so tracing's share there is about 50 x the CPU tracing adds per request: a
measure of that CPU (also shown directly: the endpoint process's CPU per request, its background
export included), not of the latency a user sees. In process: one call at a time.

`--agents model-sync` adds the waiting agent written as a plain `def predict` (a blocking client):
the endpoint runs it on anyio's worker threads, 40 by default, so at 50 concurrent requests 10 wait
for a thread, tracing on or off (in process: one call at a time).

The load generator shares the machine with the endpoint (and the tracking server): on a 2-core
machine the figures include that contention. Usage: python benchmarks/bench_endpoint.py [--quick]
[--json out.json] [--requests N] [--concurrency K] [--rounds R] [--model-latency-ms MS]
[--agents model,trivial,model-sync]
"""

from __future__ import annotations

import asyncio
import os
import random
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
from _bench import HERE, emit, parser, table, verdict
from _endpoint_agents import AGENTS, WAIT_KEY

TARGET_ADDED_P50_MS = 2.0
REQUEST: dict[str, Any] = {"model": "bench", "input": [{"role": "user", "content": "where is my order?"}]}

_SERVE_CODE = """
import sys, uvicorn
sys.path.insert(0, sys.argv[5])
from _endpoint_agents import AGENTS
from tracelake.agents.serving import EndpointSettings, create_endpoint_app

port, tracing, home, kind = int(sys.argv[1]), sys.argv[2] != "off", sys.argv[3], sys.argv[4]
tracking_uri = sys.argv[6] if len(sys.argv) > 6 else None
settings = EndpointSettings(
    endpoint_name="bench", experiment_name="bench", home=home, tracing=tracing, tracking_uri=tracking_uri,
    freeze_gc=True,  # as `tracelake serve` runs it
)
uvicorn.run(create_endpoint_app(AGENTS[kind](), settings), host="127.0.0.1", port=port, log_level="warning",
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
AGENT_KINDS = ("model", "trivial", "model-sync")
DEFAULT_AGENTS = "model,trivial"

#: Draws the model wait of the next request, in milliseconds.
Waits = Callable[[], float]


def waits_of(kind: str, mean_ms: float, seed: int) -> Waits:
    """No wait for the trivial agent; for the others, uniform between 0.5 and 1.5 x the mean."""
    if kind == "trivial":
        return lambda: 0.0
    draw = random.Random(seed).uniform
    return lambda: round(draw(0.5 * mean_ms, 1.5 * mean_ms), 3)


def request_body(wait_ms: float) -> dict[str, Any]:
    return REQUEST if not wait_ms else REQUEST | {"custom_inputs": {WAIT_KEY: wait_ms}}


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _percentiles(values_s: list[float]) -> dict[str, float]:
    ordered = sorted(values_s)
    pick = lambda q: ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000  # noqa: E731
    return {"p50_ms": pick(0.50), "p99_ms": pick(0.99), "mean_ms": statistics.fmean(ordered) * 1000}


# In process ----------------------------------------------------------------------------------------
def in_process(kind: str, tracing: bool, calls: int, concurrency: int, waits: Waits, home: Path) -> dict[str, float]:
    """`agent.predict(request)` called directly; times beyond each call's model wait.

    One call at a time for a sync agent; `concurrency` concurrent awaits in one event loop for the
    agent that awaits a model.
    """
    import tracelake
    from tracelake.agents import ResponsesRequest

    tracelake.configure(home=str(home), experiment_name="bench-in-process", enabled=tracing)
    agent = AGENTS[kind]()
    planned = [(wait, ResponsesRequest.model_validate(request_body(wait))) for wait in (waits() for _ in range(calls))]
    times: list[float] = []
    if kind != "model":
        for _, request in planned[: 200 if kind == "trivial" else 2]:  # warm-up
            agent.predict(request)
        tracelake.flush(60)
        for wait, request in planned:
            t0 = time.perf_counter()
            agent.predict(request)
            times.append(time.perf_counter() - t0 - wait / 1000)
    else:

        async def user(plan: list[tuple[float, ResponsesRequest]], record: bool) -> None:
            for wait, request in plan:
                t0 = time.perf_counter()
                await agent.predict(request)  # type: ignore[misc]
                if record:
                    times.append(time.perf_counter() - t0 - wait / 1000)

        async def load() -> None:
            await asyncio.gather(*(user(planned[i : i + 2], False) for i in range(0, 2 * concurrency, 2)))
            await asyncio.gather(*(user(planned[i::concurrency], True) for i in range(concurrency)))

        asyncio.run(load())
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


async def _load(clients: list[httpx.AsyncClient], requests: int, traced: bool, waits: Waits) -> dict[str, float]:
    """Keep one request in flight per client until `requests` are answered; latencies beyond the model's wait."""
    latencies: list[float] = []
    errors = 0
    remaining = requests

    async def worker(client: httpx.AsyncClient) -> None:
        nonlocal remaining, errors
        while remaining > 0:
            remaining -= 1
            wait_ms = waits()
            body = request_body(wait_ms)
            t0 = time.perf_counter()
            answer = await client.post("/v1/responses", json=body)
            latencies.append(time.perf_counter() - t0 - wait_ms / 1000)
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
    url: str, pid: int, warmup: int, requests: int, concurrency: int, traced: bool, waits: Waits
) -> dict[str, float]:
    # One client (one keep-alive connection) per worker, created and connected during the warm-up:
    # a shared pool of 50 connections, or creating clients (SSL contexts) in the timed part, costs
    # the load generator more CPU than the endpoint it measures.
    clients = [httpx.AsyncClient(base_url=url, timeout=60) for _ in range(concurrency)]
    try:
        await _load(clients, max(warmup, concurrency), traced, waits)
        cpu0 = _cpu_s(pid)
        result = await _load(clients, requests, traced, waits)
    finally:
        await asyncio.gather(*(client.aclose() for client in clients))
    # The traces of the timed requests are written by the endpoint's background threads: their
    # CPU counts too, so wait until the process is idle.
    result["server_cpu_ms_per_request"] = (_idle_cpu_s(pid) - cpu0) * 1000 / requests
    return result


def endpoint_round(
    kind: str, mode: str, requests: int, warmup: int, concurrency: int, waits: Waits, home: Path
) -> dict[str, float]:
    """One round against a fresh endpoint process; `on-server` traces to a tracelake server process."""
    tracking = _Server(_TRACKING_CODE, str(home / "server"), "{port}") if mode == "on-server" else None
    extra = [] if tracking is None else [tracking.url]
    server = _Server(_SERVE_CODE, "{port}", mode, str(home), kind, str(HERE), *extra)
    traced = mode != "off"
    try:
        timed = _warm_then_time(server.url, server.process.pid, warmup, requests, concurrency, traced, waits)
        return asyncio.run(timed)
    finally:
        server.stop()
        if tracking is not None:
            tracking.stop()


def _median_round(rounds: list[dict[str, float]]) -> dict[str, float]:
    ordered = sorted(rounds, key=lambda r: r["p50_ms"])
    return ordered[len(ordered) // 2] | {"rounds_p50_ms": [r["p50_ms"] for r in rounds]}  # type: ignore[dict-item]


def measure(kind: str, args: Any, requests: int, rounds: int, calls: int, root: Path) -> dict[str, Any]:
    """In-process and endpoint figures of one agent, and what the endpoint and tracing add."""
    mean = args.model_latency_ms
    local = {
        mode: in_process(
            kind, mode == "on", calls, args.concurrency, waits_of(kind, mean, 1), root / f"{kind}-in-process-{mode}"
        )
        for mode in ("off", "on")
    }
    local["on-server"] = local["on"]  # in process, the destination only changes the export thread's work
    runs: dict[str, list[dict[str, float]]] = {mode: [] for mode in MODES}
    for index in range(rounds):
        for mode in MODES:
            home = root / f"{kind}-endpoint-{mode}-{index}"
            warmup = max(100, requests // 10)
            waits = waits_of(kind, mean, 2 + index)  # the same waits for every mode of a round
            runs[mode].append(endpoint_round(kind, mode, requests, warmup, args.concurrency, waits, home))
    endpoint = {mode: _median_round(values) for mode, values in runs.items()}
    off = endpoint["off"]
    return {
        "in_process": local,
        "endpoint": endpoint,
        "added_over_in_process_p50_ms": {mode: endpoint[mode]["p50_ms"] - local[mode]["p50_ms"] for mode in MODES},
        "added_over_in_process_p99_ms": {mode: endpoint[mode]["p99_ms"] - local[mode]["p99_ms"] for mode in MODES},
        "tracing_added_p50_ms": {mode: endpoint[mode]["p50_ms"] - off["p50_ms"] for mode in ("on", "on-server")},
        "tracing_added_p99_ms": {mode: endpoint[mode]["p99_ms"] - off["p99_ms"] for mode in ("on", "on-server")},
        "tracing_added_server_cpu_ms_per_request": {
            mode: endpoint[mode]["server_cpu_ms_per_request"] - off["server_cpu_ms_per_request"]
            for mode in ("on", "on-server")
        },
    }


def main() -> None:
    p = parser(__doc__.splitlines()[0])
    p.add_argument("--requests", type=int, help="timed requests per round (default 5000, quick 600)")
    p.add_argument("--concurrency", type=int, default=50, help="requests in flight (default 50)")
    p.add_argument("--rounds", type=int, help="rounds per mode (default 3, quick 1)")
    p.add_argument("--model-latency-ms", type=float, default=100.0, help="mean model wait (default 100)")
    p.add_argument(
        "--agents", default=DEFAULT_AGENTS, help="agents to measure: model, trivial, model-sync (default model,trivial)"
    )
    args = p.parse_args()
    requests = args.requests or (600 if args.quick else 5000)
    rounds = args.rounds or (1 if args.quick else 3)
    kinds = [kind for kind in args.agents.split(",") if kind]
    unknown = set(kinds) - set(AGENT_KINDS)
    if unknown:
        p.error(f"unknown agents {sorted(unknown)}: choose from {', '.join(AGENT_KINDS)}")
    agents: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="bench-endpoint-") as folder:
        for kind in kinds:
            # A call that waits for a model lasts its wait: fewer calls (one at a time when sync).
            calls = {
                "trivial": 2000 if args.quick else 20000,
                "model": max(2 * args.concurrency, requests // 5),
                "model-sync": 20 if args.quick else 50,
            }[kind]
            agents[kind] = measure(kind, args, requests, rounds, calls, Path(folder))
    target = agents.get("model")
    result: dict[str, Any] = {
        "benchmark": "endpoint",
        "requests": requests,
        "concurrency": args.concurrency,
        "rounds": rounds,
        "model_latency_ms": args.model_latency_ms,
        "agents": agents,
        "target_tracing_added_p50_ms": TARGET_ADDED_P50_MS,
        # The target is judged on the agent that awaits a model, in the deployed configuration.
        "met": None if target is None else target["tracing_added_p50_ms"]["on-server"] < TARGET_ADDED_P50_MS,
        "met_embedded": None if target is None else target["tracing_added_p50_ms"]["on"] < TARGET_ADDED_P50_MS,
        "cpu_count": os.cpu_count(),
    }
    emit(result, args.json, markdown)


def _rows(figures: dict[str, Any], in_process_unit_us: bool) -> list[list[Any]]:
    rows = []
    scale, digits = (1000, 1) if in_process_unit_us else (1, 2)
    for mode in MODES:
        local, served = figures["in_process"][mode], figures["endpoint"][mode]
        tracing = "—"
        if mode != "off":
            tracing = f"{figures['tracing_added_p50_ms'][mode]:.2f} / {figures['tracing_added_p99_ms'][mode]:.2f}"
        over = figures["added_over_in_process_p50_ms"][mode], figures["added_over_in_process_p99_ms"][mode]
        rows.append(
            [
                _LABELS[mode],
                f"{local['p50_ms'] * scale:.{digits}f} / {local['p99_ms'] * scale:.{digits}f}",
                f"{served['p50_ms']:.2f} / {served['p99_ms']:.2f}",
                f"{over[0]:.2f} / {over[1]:.2f}",
                tracing,
                f"{served['requests_per_s']:.0f}",
                f"{served['server_cpu_ms_per_request']:.3f}",
                int(served["errors"]),
            ]
        )
    return rows


def markdown(r: dict[str, Any]) -> str:
    out = []
    tail = ["endpoint over in process p50 / p99 (ms)", "tracing adds p50 / p99 (ms)", "requests/s"]
    tail += ["endpoint CPU/request (ms)", "errors"]
    waiting = ["", "in process, beyond the wait: p50 / p99 (ms)", "endpoint, beyond the wait: p50 / p99 (ms)", *tail]
    spread = f"waits of {r['model_latency_ms'] / 2:.0f}-{r['model_latency_ms'] * 1.5:.0f} ms"
    model = r["agents"].get("model")
    if model is not None:
        added, added_p99 = model["tracing_added_p50_ms"], model["tracing_added_p99_ms"]
        out.append(
            f"## Serving endpoint: an agent that awaits a model ({spread}), {r['concurrency']} concurrent "
            f"requests, {r['requests']} per round (the issue's target)\n\n"
            + table(waiting, _rows(model, False))
            + f"\n\nTracing adds {added['on-server']:.2f} ms at p50 ({added_p99['on-server']:.2f} ms at p99) "
            + f"sending to a tracelake server, {added['on']:.2f} ms ({added_p99['on']:.2f} ms at p99) with the "
            + f"embedded store; target < {r['target_tracing_added_p50_ms']:.0f} ms at p50: "
            + f"{verdict(bool(r['met']))} to a server, {verdict(bool(r['met_embedded']))} embedded. Latencies are "
            + "beyond each request's model wait; the endpoint is not CPU-bound at this load, so they are what a "
            + "user of the deployed agent sees.\n"
        )
    trivial = r["agents"].get("trivial")
    if trivial is not None:
        cpu = trivial["tracing_added_server_cpu_ms_per_request"]
        served = trivial["endpoint"]
        header = ["", "in-process p50 / p99 (µs)", "endpoint p50 / p99 (ms)", *tail]
        out.append(
            f"## Serving endpoint: a trivial agent, {r['concurrency']} concurrent requests, {r['requests']} per round "
            "(requests/s; the endpoint is saturated)\n\n"
            + table(header, _rows(trivial, True))
            + f"\n\nOne endpoint process serves {served['off']['requests_per_s']:.0f} requests/s with tracing off, "
            + f"{served['on-server']['requests_per_s']:.0f} sending traces to a server, "
            + f"{served['on']['requests_per_s']:.0f} with the embedded store. Saturated, latency is queueing: "
            + "tracing's share is about the concurrency x the CPU it adds per request in the endpoint process "
            + f"(root + AGENT span, export included): {cpu['on-server']:.3f} ms sending to a server, "
            + f"{cpu['on']:.3f} ms with the embedded store (its SQLite and payload writes included).\n"
        )
    sync = r["agents"].get("model-sync")
    if sync is not None:
        added = sync["tracing_added_p50_ms"]
        out.append(
            f"## Serving endpoint: a sync agent blocking on a model ({spread}), {r['concurrency']} concurrent "
            f"requests, {r['requests']} per round\n\n"
            + table(waiting, _rows(sync, False))
            + f"\n\nTracing adds {added['on-server']:.2f} ms at p50 sending to a server, {added['on']:.2f} ms "
            + "embedded. A plain `def predict` runs on anyio's worker threads (40 by default): beyond 40 "
            + "concurrent requests they queue, tracing on or off (in process: one call at a time).\n"
        )
    out.append(f"{r['cpu_count']} cores shared by the load generator, the endpoint and the tracking server.\n")
    return "\n".join(out)


if __name__ == "__main__":
    main()
