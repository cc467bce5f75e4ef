"""Per-span cost on the caller's thread: plain call vs raw OpenTelemetry SDK vs tracelake vs MLflow 3.

Every system instruments the same functions `level_0 → … → level_{d-1}` (flat: d = 1; nested: d = 10),
each taking `(text, k)` and returning `text[:k]`, with a small `text` (30 B) and a 10 KB one. Each system
runs in its own fresh interpreter (started by this same script) so that one's background threads never
share a process with another's; each child also times the plain call, the baseline that is subtracted.

- OTel SDK span: `TracerProvider` + `BatchSpanProcessor` + a no-op exporter; the arguments are passed as
  attributes at span start and the result is set as an attribute (comparable capture, done the cheapest
  way the raw SDK allows).
- tracelake: `@tracelake.trace` and `tracelake.start_span(inputs=…)` + `set_outputs`, exporting to a null
  sink (the export thread still converts and serialises every span, only the store write is skipped),
  and `@tracelake.trace` with the default embedded store in a temp folder.
- MLflow: `@mlflow.trace` with its defaults, tracking to a sqlite file in a temp folder.

Usage: python benchmarks/bench_overhead.py [--quick] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from _bench import emit, parser, run_child, table, time_calls, us, verdict

Wrap = Callable[[Callable[..., Any], str], Callable[..., Any]]

K = 64
INPUTS = {"small (30 B)": "What is the capital of France?", "10 KB": ("lorem ipsum " * 900)[:10_240]}
SHAPES = {"flat": 1, "nested 10-deep": 10}
SYSTEMS = ("otel", "tracelake", "tracelake-store", "mlflow")
# Spans per repetition: below tracelake's export queue (100,000) and quick enough to flush for MLflow.
# (The embedded store writes a few thousand spans/s: its repetitions are kept small to flush quickly.)
MAX_SPANS = {"otel": 20_000, "tracelake": 20_000, "tracelake-store": 5_000, "mlflow": 200}
METRICS = ("wall", "cpu", "process_cpu")
TARGET_RATIO = 0.25


def leaf(text: str, k: int) -> str:
    return text[:k]


def calls(inner: Callable[[str, int], str]) -> Callable[[str, int], str]:
    def step(text: str, k: int) -> str:
        return inner(text, k)

    return step


def build_chain(wrap: Wrap, depth: int) -> Callable[[str, int], str]:
    """Return level_0, which calls level_1, … down to the leaf; every level is wrapped by `wrap`."""
    fn = wrap(leaf, f"level_{depth - 1}")
    for level in range(depth - 2, -1, -1):
        fn = wrap(calls(fn), f"level_{level}")
    return fn


# One setup per system: returns {api label: wrap} and the function that drains its exporter. -----------
def setup_otel(tmp: str) -> tuple[dict[str, Wrap], Callable[[], object]]:
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult

    class NoOpExporter(SpanExporter):
        def export(self, spans: Any) -> SpanExportResult:
            return SpanExportResult.SUCCESS

    provider = TracerProvider()
    provider.add_span_processor(BatchSpanProcessor(NoOpExporter()))
    tracer = provider.get_tracer("bench")

    def wrap(fn: Callable[..., Any], name: str) -> Callable[..., Any]:
        def spanned(text: str, k: int) -> str:
            with tracer.start_as_current_span(name, attributes={"input.text": text, "input.k": k}) as span:
                result = fn(text, k)
                span.set_attribute("output.value", result)
                return result

        return spanned

    return {"OTel SDK span": wrap}, provider.force_flush


class NullSink:
    """Accepts span records and drops them: isolates tracelake's own cost from the store's."""

    def export(self, experiment: Any, records: Any) -> None:
        pass

    def shutdown(self) -> None:
        pass


def _tracelake_wraps(suffix: str) -> dict[str, Wrap]:
    import tracelake

    def decorate(fn: Callable[..., Any], name: str) -> Callable[..., Any]:
        return tracelake.trace(name=name, span_type="TOOL")(fn)

    def scope(fn: Callable[..., Any], name: str) -> Callable[..., Any]:
        def spanned(text: str, k: int) -> str:
            with tracelake.start_span(name, span_type="TOOL", inputs={"text": text, "k": k}) as span:
                result = fn(text, k)
                span.set_outputs(result)
                return result

        return spanned

    wraps = {f"tracelake @trace{suffix}": decorate}
    if not suffix:
        wraps["tracelake start_span"] = scope
    return wraps


def setup_tracelake(tmp: str) -> tuple[dict[str, Wrap], Callable[[], object]]:
    import tracelake

    tracelake.configure(sink=NullSink(), experiment_name="bench")
    return _tracelake_wraps(""), lambda: tracelake.flush(120)


def setup_tracelake_store(tmp: str) -> tuple[dict[str, Wrap], Callable[[], object]]:
    import tracelake

    tracelake.configure(home=tmp, experiment_name="bench")
    return _tracelake_wraps(" (embedded store)"), lambda: tracelake.flush(120)


def setup_mlflow(tmp: str) -> tuple[dict[str, Wrap], Callable[[], object]]:
    import mlflow

    os.chdir(tmp)  # keep anything MLflow writes next to its database
    mlflow.set_tracking_uri(f"sqlite:///{tmp}/mlflow.db")
    mlflow.set_experiment("bench")

    def decorate(fn: Callable[..., Any], name: str) -> Callable[..., Any]:
        return mlflow.trace(name=name, span_type="TOOL")(fn)

    return {"MLflow @mlflow.trace": decorate}, mlflow.flush_trace_async_logging


SETUPS = {
    "otel": setup_otel,
    "tracelake": setup_tracelake,
    "tracelake-store": setup_tracelake_store,
    "mlflow": setup_mlflow,
}


def run_system(system: str, reps: int, target_s: float) -> list[dict[str, Any]]:
    rows = []
    with tempfile.TemporaryDirectory(prefix=f"bench-{system}-") as tmp:
        wraps, settle = SETUPS[system](tmp)
        for shape, depth in SHAPES.items():
            for size, text in INPUTS.items():
                plain = time_calls(
                    build_chain(lambda fn, _name: fn, depth),
                    (text, K),
                    reps=reps,
                    target_s=target_s,
                    max_n=2_000_000,
                    warmup=10_000,
                )
                for api, wrap in wraps.items():
                    max_n = max(1, MAX_SPANS[system] // depth)
                    timing = time_calls(
                        build_chain(wrap, depth),
                        (text, K),
                        reps=reps,
                        target_s=target_s,
                        max_n=max_n,
                        warmup=min(500, max_n),
                        settle=settle,
                    )
                    key = {"system": system, "api": api, "shape": shape, "depth": depth, "input": size}
                    rows.append({**key, "plain": plain.as_dict(), **timing.as_dict()})
        settle()
    return rows


def summarise(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Merge the rounds (repetitions pooled per case), take medians, and compute overheads and ratios.

    Per-span overhead = (traced - plain of the same processes) / spans per call; ratios divide it by the
    OTel SDK span's overhead in the same case.
    """
    merged: dict[tuple[str, ...], dict[str, Any]] = {}
    for row in rows:
        key = (row["api"], row["shape"], row["input"])
        if key not in merged:
            merged[key] = {**row, "plain": {m: [] for m in METRICS}, **{m: [] for m in METRICS}, "n": []}
        into = merged[key]
        into["n"].append(row["n"])
        for m in METRICS:
            into[m] += row[m]
            into["plain"][m] += row["plain"][m]
    out = []
    for row in merged.values():
        d, reps = row["depth"], len(row["wall"])
        med = {m: statistics.median(row[m]) for m in METRICS}
        plain = {m: statistics.median(row["plain"][m]) for m in METRICS}
        out.append(
            {
                **{k: row[k] for k in ("system", "api", "shape", "depth", "input")},
                "calls_per_rep": min(row["n"]),
                "reps": reps,
                "plain_wall_ns": plain["wall"],
                "plain_cpu_ns": plain["cpu"],
                "wall_ns": med["wall"],
                "cpu_ns": med["cpu"],
                "over_wall_ns": (med["wall"] - plain["wall"]) / d,
                "over_cpu_ns": (med["cpu"] - plain["cpu"]) / d,
                "over_all_cpu_ns": (med["process_cpu"] - plain["process_cpu"]) / d,
            }
        )
    ref = {(r["shape"], r["input"]): r for r in out if r["system"] == "otel"}
    for row in out:
        otel = ref[(row["shape"], row["input"])]
        row["ratio_cpu"] = row["over_cpu_ns"] / otel["over_cpu_ns"]
        row["ratio_wall"] = row["over_wall_ns"] / otel["over_wall_ns"]
    return out


def run(quick: bool) -> dict[str, Any]:
    """Interleave the systems in rounds so that they all share the machine's varying load alike."""
    rounds = 2 if quick else 3
    raw: list[dict[str, Any]] = []
    for round_no in range(1, rounds + 1):
        for system in SYSTEMS:
            print(f"overhead: round {round_no}/{rounds}: {system} …", file=sys.stderr, flush=True)
            args = ["--child", system] + (["--quick"] if quick else [])
            raw += run_child(Path(__file__), *args)
    rows = summarise(raw)
    checked = [r for r in rows if r["api"] in ("tracelake @trace", "tracelake start_span")]
    worst_cpu = max(r["ratio_cpu"] for r in checked)
    worst_wall = max(r["ratio_wall"] for r in checked)
    return {
        "bench": "overhead",
        "rounds": rounds,
        "rows": rows,
        "worst_ratio_cpu": worst_cpu,
        "worst_ratio_wall": worst_wall,
        "target_ratio": TARGET_RATIO,
        "met_cpu": worst_cpu <= TARGET_RATIO,
        "met_wall": worst_wall <= TARGET_RATIO,
    }


def markdown(result: dict[str, Any]) -> str:
    header = [
        "API",
        "shape",
        "inputs",
        "wall µs/call",
        "thread CPU µs/call",
        "overhead wall µs/span",
        "overhead thread CPU µs/span",
        "all-threads CPU µs/span (incl. export)",
        "÷ OTel (CPU)",
        "÷ OTel (wall)",
    ]
    body = []
    seen_plain = set()
    for r in result["rows"]:
        key = (r["shape"], r["input"])
        if key not in seen_plain and r["system"] == "otel":
            seen_plain.add(key)
            body.append(["plain call", *key, us(r["plain_wall_ns"], 3), us(r["plain_cpu_ns"], 3), *["-"] * 5])
        body.append(
            [
                r["api"],
                r["shape"],
                r["input"],
                us(r["wall_ns"]),
                us(r["cpu_ns"]),
                us(r["over_wall_ns"]),
                us(r["over_cpu_ns"]),
                us(r["over_all_cpu_ns"]),
                f"{r['ratio_cpu']:.3f}",
                f"{r['ratio_wall']:.3f}",
            ]
        )
    body.sort(key=lambda row: (list(SHAPES).index(row[1]), list(INPUTS).index(row[2])))
    return "\n".join(
        [
            "### Per-span cost on the caller's thread",
            "",
            f"Medians of {result['rows'][0]['reps']} repetitions ({result['rounds']} rounds of fresh processes, "
            "the systems interleaved) after warm-up, GC on. Overhead = traced call - plain call (same "
            "processes), divided by the spans per call. *All-threads CPU* adds the exporter threads' work, drained "
            "after each repetition. Ratios are per-span overheads divided by the OTel SDK span's.",
            "",
            table(header, body),
            "",
            f"Target: tracelake (`@trace` and `start_span`, null sink) ≤ {TARGET_RATIO} x the OTel SDK span, "
            f"in all four cases. Worst case by thread CPU: {result['worst_ratio_cpu']:.3f} → "
            f"{verdict(result['met_cpu'])}; by wall time: {result['worst_ratio_wall']:.3f} → "
            f"{verdict(result['met_wall'])}.",
            "",
        ]
    )


def main() -> None:
    p = parser(__doc__.splitlines()[0])
    p.add_argument("--child", choices=SYSTEMS, help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.child:
        reps, target_s = (2, 0.05) if args.quick else (3, 0.25)
        print(json.dumps(run_system(args.child, reps, target_s)))
        return
    emit(run(args.quick), args.json, markdown)


if __name__ == "__main__":
    main()
