"""A burst of 3,000 traces (5 spans each) from a tight loop, default settings: how many are kept?

- tracelake: `configure(home=<temp dir>)` and nothing else (embedded store, default queue); counted with
  `search_traces` after `flush()`.
- MLflow 3: `@mlflow.trace`, tracking to a sqlite file, its defaults (async trace logging); counted in
  its database after `mlflow.flush_trace_async_logging()`.
- OpenTelemetry SDK: `BatchSpanProcessor` with its defaults (queue 2048, batch 512, 5 s delay) into an
  `InMemorySpanExporter`; counted after `force_flush()`.

Each system runs in a fresh interpreter started by this same script.

Usage: python benchmarks/bench_burst.py [--quick] [--json out.json] [-n TRACES]
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sqlite3
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

from _bench import emit, parser, run_child, table, verdict

Wrap = Callable[[Callable[..., Any], str, str], Callable[..., Any]]
SPANS_PER_TRACE = 5
SYSTEMS = ("tracelake", "mlflow", "otel", "otel-remote")
REMOTE_ROUND_TRIP_S = 0.05
LABELS = {
    "tracelake": "tracelake",
    "mlflow": "MLflow (async logging)",
    "otel": "OTel BatchSpanProcessor",
    "otel-remote": f"OTel BatchSpanProcessor, exporter taking {REMOTE_ROUND_TRIP_S * 1000:.0f} ms per batch",
}


def make_agent(wrap: Wrap) -> Callable[[str], str]:
    """The same 5-span trace for every system: agent → retrieve, llm, tool, llm."""

    def retrieve(question: str, k: int) -> list[str]:
        return [f"passage {i} about {question[:20]}" for i in range(k)]

    def llm(prompt: str) -> str:
        return f"answer to {prompt[:30]}"

    def tool(query: str) -> int:
        return len(query)

    retrieve, llm, tool = (
        wrap(retrieve, "retrieve", "RETRIEVER"),
        wrap(llm, "llm", "CHAT_MODEL"),
        wrap(tool, "tool", "TOOL"),
    )

    def agent(question: str) -> str:
        docs = retrieve(question, 3)
        plan = llm(question)
        found = tool(plan)
        return llm(f"{question} {found} {len(docs)}")

    return wrap(agent, "agent", "AGENT")


def burst(agent: Callable[[str], str], n: int) -> float:
    t0 = time.perf_counter()
    for i in range(n):
        agent(f"question {i}: what is the capital of France?")
    return time.perf_counter() - t0


def run_tracelake(n: int, tmp: str) -> dict[str, Any]:
    import tracelake

    tracelake.configure(home=tmp)

    def wrap(fn: Callable[..., Any], name: str, kind: str) -> Callable[..., Any]:
        return tracelake.trace(name=name, span_type=kind)(fn)

    make_s = burst(make_agent(wrap), n)
    t = time.perf_counter()
    ok = tracelake.flush(600)
    drain_s = time.perf_counter() - t
    found = tracelake.search_traces(max_results=max(n, 1), include_spans=False)
    stats = tracelake.export_stats()
    if stats is None:
        raise RuntimeError("tracelake is not configured")
    return {
        "make_s": make_s,
        "drain_s": drain_s,
        "traces": len(found),
        "complete": sum(1 for tr in found if tr.info.span_count == SPANS_PER_TRACE),
        "spans": sum(tr.info.span_count for tr in found),
        "note": f"flush() → {ok}; export_stats: dropped {stats.dropped}, failed {stats.failed}",
    }


class _QueueFullWarnings(logging.Handler):
    """Notices MLflow's warning that its async export queue is full (it logs it at most every 30 s)."""

    seen = False

    def emit(self, record: logging.LogRecord) -> None:
        if "queue is full" in record.getMessage():
            self.seen = True


def run_mlflow(n: int, tmp: str) -> dict[str, Any]:
    import mlflow

    os.chdir(tmp)
    db = Path(tmp) / "mlflow.db"
    mlflow.set_tracking_uri(f"sqlite:///{db}")
    mlflow.set_experiment("burst")

    def wrap(fn: Callable[..., Any], name: str, kind: str) -> Callable[..., Any]:
        return mlflow.trace(name=name, span_type=kind)(fn)

    full_queue = _QueueFullWarnings()
    logging.getLogger("mlflow.tracing.export.async_export_queue").addHandler(full_queue)
    make_s = burst(make_agent(wrap), n)
    t = time.perf_counter()
    mlflow.flush_trace_async_logging()
    drain_s = time.perf_counter() - t
    with sqlite3.connect(db) as conn:
        traces = conn.execute("SELECT COUNT(*) FROM trace_info").fetchone()[0]
        per_trace = conn.execute("SELECT trace_id, COUNT(*) FROM spans GROUP BY trace_id").fetchall()
    return {
        "make_s": make_s,
        "drain_s": drain_s,
        "traces": traces,
        "complete": sum(1 for _, count in per_trace if count == SPANS_PER_TRACE),
        "spans": sum(count for _, count in per_trace),
        "note": f"MLflow {mlflow.__version__}, counted in its sqlite database"
        + ("; it warned: trace export queue is full, trace will be discarded" if full_queue.seen else ""),
    }


def run_otel(n: int, tmp: str, round_trip_s: float = 0.0) -> dict[str, Any]:
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExportResult
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    class RemoteLikeExporter(InMemorySpanExporter):
        """Keeps spans in memory after a pause, like an OTLP/HTTP POST to a collector over the network."""

        def export(self, spans: Any) -> SpanExportResult:
            time.sleep(round_trip_s)
            return super().export(spans)

    exporter = RemoteLikeExporter() if round_trip_s else InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(BatchSpanProcessor(exporter))
    tracer = provider.get_tracer("bench")

    def wrap(fn: Callable[..., Any], name: str, kind: str) -> Callable[..., Any]:
        def spanned(*args: Any) -> Any:
            with tracer.start_as_current_span(name, attributes={"span.type": kind, "input.value": repr(args)}) as span:
                result = fn(*args)
                span.set_attribute("output.value", repr(result))
                return result

        return spanned

    make_s = burst(make_agent(wrap), n)
    t = time.perf_counter()
    provider.force_flush()
    drain_s = time.perf_counter() - t
    per_trace = Counter(span.context.trace_id for span in exporter.get_finished_spans())
    return {
        "make_s": make_s,
        "drain_s": drain_s,
        "traces": len(per_trace),
        "complete": sum(1 for count in per_trace.values() if count == SPANS_PER_TRACE),
        "spans": sum(per_trace.values()),
        "note": f"in-memory exporter{', sleeps per export call (simulated remote collector)' if round_trip_s else ''}",
    }


RUNNERS: dict[str, Callable[[int, str], dict[str, Any]]] = {
    "tracelake": run_tracelake,
    "mlflow": run_mlflow,
    "otel": run_otel,
    "otel-remote": lambda n, tmp: run_otel(n, tmp, REMOTE_ROUND_TRIP_S),
}


def run(n: int) -> dict[str, Any]:
    rows = []
    for system in SYSTEMS:
        print(f"burst: {system} …", file=sys.stderr, flush=True)
        row = run_child(Path(__file__), "--child", system, "-n", str(n))
        rows.append({"system": system, **row})
    ours = rows[0]
    met = ours["complete"] == n and ours["spans"] == n * SPANS_PER_TRACE
    return {"bench": "burst", "n": n, "rows": rows, "met": met}


def markdown(result: dict[str, Any]) -> str:
    n = result["n"]
    header = [
        "system",
        "burst (caller) s",
        "drain s",
        "traces kept",
        "complete traces (5 spans)",
        f"spans kept of {n * SPANS_PER_TRACE:,}",
        "lost traces",
        "notes",
    ]
    body = [
        [
            LABELS[r["system"]],
            f"{r['make_s']:.2f}",
            f"{r['drain_s']:.2f}",
            f"{r['traces']:,}",
            f"{r['complete']:,}",
            f"{r['spans']:,}",
            f"{n - r['complete']:,}",
            r["note"],
        ]
        for r in result["rows"]
    ]
    return "\n".join(
        [
            f"### Burst of {n:,} traces ({SPANS_PER_TRACE} spans each) from a tight loop, default settings",
            "",
            table(header, body),
            "",
            f"Target: tracelake loses no trace of the burst → {verdict(result['met'])}.",
            "",
        ]
    )


def main() -> None:
    p = parser(__doc__.splitlines()[0])
    p.add_argument("-n", type=int, help="traces in the burst (default 3,000; 500 with --quick)")
    p.add_argument("--child", choices=SYSTEMS, help=argparse.SUPPRESS)
    args = p.parse_args()
    n = args.n or (500 if args.quick else 3_000)
    if args.child:
        with tempfile.TemporaryDirectory(prefix=f"bench-burst-{args.child}-") as tmp:
            print(json.dumps(RUNNERS[args.child](n, tmp)))
        return
    emit(run(n), args.json, markdown)


if __name__ == "__main__":
    main()
