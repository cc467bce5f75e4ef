"""OTLP ingest throughput of a real `tracelake server` (issue 3): 10-span traces, 512 spans per
request, several concurrent senders, the server in its own process on loopback.

Prints spans/s, the HTTP statuses seen (429 = the server's backpressure), and the server's peak
resident memory. Usage: python benchmarks/bench_ingest.py [--requests N] [--senders K]
[--database postgresql://…] [--workers W] [--dir PARENT]
"""

from __future__ import annotations

import argparse
import json
import random
import re
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import httpx
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1 import common_pb2
from opentelemetry.proto.resource.v1 import resource_pb2
from opentelemetry.proto.trace.v1 import trace_pb2

SPANS_PER_REQUEST = 512
_T0_NS = 1_764_000_000_000_000_000
_TYPES = ("AGENT", "CHAIN", "RETRIEVER", "TOOL", "LLM")


def _kv(key: str, value: Any) -> common_pb2.KeyValue:
    if isinstance(value, str):
        return common_pb2.KeyValue(key=key, value=common_pb2.AnyValue(string_value=value))
    return common_pb2.KeyValue(key=key, value=common_pb2.AnyValue(int_value=value))


def _trace_spans(index: int, rng: random.Random) -> list[trace_pb2.Span]:
    """One agent request: a root, a chain, retrieval, tools and an LLM call with token usage."""
    trace_id, ids = rng.randbytes(16), [rng.randbytes(8) for _ in range(10)]
    spans = []
    for j in range(10):
        attributes = [
            _kv("tracelake.span.type", _TYPES[j % 5]),
            _kv("tracelake.span.inputs", json.dumps({"question": f"where is order {index}-{j}?", "k": j})),
            _kv("tracelake.span.outputs", json.dumps({"answer": "It ships tomorrow " * 3})),
        ]
        if j % 5 == 4:
            attributes += [
                _kv("gen_ai.request.model", "gpt-4o-mini"),
                _kv("gen_ai.usage.input_tokens", 120),
                _kv("gen_ai.usage.output_tokens", 40),
            ]
        if j == 0:
            metadata = {"session_id": f"s-{index % 50}", "user_id": f"u-{index % 20}", "environment": "production"}
            attributes.append(_kv("tracelake.trace.metadata", json.dumps(metadata)))
        start = _T0_NS + index * 10_000_000 + j * 100_000
        spans.append(
            trace_pb2.Span(
                trace_id=trace_id,
                span_id=ids[j],
                parent_span_id=b"" if j == 0 else ids[0 if j < 5 else 4],
                name=f"step_{j}",
                kind=1,
                start_time_unix_nano=start,
                end_time_unix_nano=start + 50_000 * (10 - j),
                attributes=attributes,
                status=trace_pb2.Status(code=1),
            )
        )
    return spans


def request_bodies(count: int, seed: int) -> list[bytes]:
    """OTLP protobuf bodies of 512 spans; traces may straddle requests, as with a real exporter."""
    rng, bodies, index = random.Random(seed), [], 0
    resource = resource_pb2.Resource(attributes=[_kv("service.name", "support-agent")])
    for _ in range(count):
        spans: list[trace_pb2.Span] = []
        while len(spans) < SPANS_PER_REQUEST:
            spans += _trace_spans(index, rng)
            index += 1
        scope = trace_pb2.ScopeSpans(spans=spans[:SPANS_PER_REQUEST])
        request = ExportTraceServiceRequest(
            resource_spans=[trace_pb2.ResourceSpans(resource=resource, scope_spans=[scope])]
        )
        bodies.append(request.SerializeToString())
    return bodies


def _start_server(home: str, database: str | None, workers: int) -> tuple[subprocess.Popen[str], str]:
    command = [sys.executable, "-m", "tracelake.cli", "--home", home, "server", "--port", "0"]
    command += ["--workers", str(workers)] + (["--database", database] if database else [])
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    assert process.stdout is not None
    match = re.search(r"listening on (\S+)", process.stdout.readline())
    if match is None:
        raise SystemExit("the server did not start")
    url = match.group(1)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if httpx.get(url + "/health").status_code == 200:
                return process, url
        except httpx.HTTPError:
            time.sleep(0.05)
    raise SystemExit("the server did not answer /health")


def _peak_rss_kib(pid: int, done: threading.Event, peak: list[int]) -> None:
    while not done.is_set():
        try:
            status = Path(f"/proc/{pid}/status").read_text()
            peak[0] = max(peak[0], int(status.split("VmRSS:")[1].split()[0]))
        except (OSError, IndexError, ValueError):
            pass
        done.wait(0.05)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--senders", type=int, default=4)
    parser.add_argument("--database")
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--dir")
    args = parser.parse_args()
    warm_up, bodies = (lambda b: (b[:4], b[4:]))(request_bodies(args.requests + 4, seed=time.time_ns()))
    headers = {"content-type": "application/x-protobuf", "x-tracelake-experiment-name": "bench"}
    statuses: dict[int, int] = {}
    lock = threading.Lock()
    with tempfile.TemporaryDirectory(dir=args.dir) as home:
        process, url = _start_server(home, args.database, args.workers)
        try:
            with httpx.Client(timeout=120) as client:
                for body in warm_up:
                    client.post(url + "/v1/traces", content=body, headers=headers).raise_for_status()

            def send(part: list[bytes]) -> None:
                with httpx.Client(timeout=120) as client:
                    for body in part:
                        while True:
                            response = client.post(url + "/v1/traces", content=body, headers=headers)
                            with lock:
                                statuses[response.status_code] = statuses.get(response.status_code, 0) + 1
                            if response.status_code == 200:
                                break
                            time.sleep(float(response.headers.get("retry-after", "0.1")))

            done, peak = threading.Event(), [0]
            threading.Thread(target=_peak_rss_kib, args=(process.pid, done, peak), daemon=True).start()
            senders = [threading.Thread(target=send, args=(bodies[k :: args.senders],)) for k in range(args.senders)]
            started = time.perf_counter()
            for thread in senders:
                thread.start()
            for thread in senders:
                thread.join()
            elapsed = time.perf_counter() - started
            done.set()
        finally:
            process.terminate()
            process.wait(30)
    spans = len(bodies) * SPANS_PER_REQUEST
    backend = "postgresql" if args.database else "sqlite"
    print(
        f"{spans:,} spans in {elapsed:.2f} s = {spans / elapsed:,.0f} spans/s acknowledged "
        f"({args.senders} senders, {args.workers} worker(s), {backend}); HTTP statuses {statuses}; "
        f"server peak RSS {peak[0] / 1024:.0f} MiB"
    )


if __name__ == "__main__":
    main()
