"""Delta archive: backfill rate of 1,000,000 spans, and the time of an incremental sync of 10,000 new traces.

The store (embedded SQLite and a local artifact folder) is filled with `SqlTraceStore.write_batches`
in large writes (realistic spans: inputs, outputs, attributes, an LLM span with usage per trace);
then one `run_sync` archives everything (the backfill), 10,000 more traces are written and a second
`run_sync` archives them (the incremental sync). Both syncs are timed end to end: reading the index
and payload packs, building Arrow batches, Delta commits.

Filling a million spans takes a minute or two, so the filled store is cached under
`benchmarks/out/archive/` (`--rebuild` fills it again). Each run syncs a copy of its database into a
fresh temp folder; the packs the incremental traces add to the cached artifact folder are deleted
after the run, so the cache stays as built.

Targets (issue 6): backfill >= 50,000 spans/s; incremental sync of 10,000 new traces < 5 s.

Usage: python benchmarks/bench_archive.py [--quick] [--json out.json] [--spans N] [--batch-traces N] [--rebuild]
"""

from __future__ import annotations

import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

from _bench import HERE, emit, parser, table, verdict

from tracelake.model import Cost, Span, SpanStatus, StatusCode, TokenUsage, TraceBatch, TraceFields
from tracelake.monitoring.archive import settings as st
from tracelake.monitoring.archive.sync import run_sync
from tracelake.store import SqlTraceStore

SPANS_PER_TRACE = 10
T0_NS = 1_764_000_000_000 * 1_000_000
#: Bump when `_trace` changes: cached stores of another version are not reused.
VERSION = "v1"
CACHE = HERE / "out" / "archive"


def _trace(n: int) -> TraceBatch:
    trace_id = f"{n:032x}"
    start = T0_NS + n * 1_000_000_000
    spans = [
        Span(
            trace_id,
            f"{n:012x}0001",
            None,
            "agent",
            "AGENT",
            start,
            start + 900_000_000,
            SpanStatus(StatusCode.OK),
            inputs={"messages": [{"role": "user", "content": f"question number {n} about the refund policy"}]},
            outputs={"answer": "Refunds are possible within 30 days of purchase." * 2},
            attributes={"service": "support", "n": n},
        )
    ]
    for i in range(2, SPANS_PER_TRACE + 1):
        llm = i == 2
        spans.append(
            Span(
                trace_id,
                f"{n:012x}{i:04x}",
                f"{n:012x}0001",
                "chat" if llm else f"tool-{i}",
                "LLM" if llm else "TOOL",
                start + i * 1_000_000,
                start + i * 1_000_000 + 50_000_000,
                SpanStatus(StatusCode.OK),
                inputs={"query": f"step {i} of {n}"},
                outputs={"result": [i, n, "ok"]},
                attributes={"step": i},
                model_name="gpt-4o-mini" if llm else None,
                token_usage=TokenUsage(120, 40, 160) if llm else None,
                cost=Cost(0.0001, 0.0002, 0.0003) if llm else None,
            )
        )
    fields = TraceFields(metadata={"session_id": f"s{n % 100}", "user_id": f"u{n % 7}"}, tags={"env": "prod"})
    return TraceBatch(trace_id, spans, fields, frozenset({f"{n:012x}0002"}))


def _fill(store: SqlTraceStore, experiment_id: str, first: int, count: int, per_write: int = 500) -> float:
    started = time.perf_counter()
    for start in range(first, first + count, per_write):
        store.write_batches(experiment_id, [_trace(n) for n in range(start, min(start + per_write, first + count))])
    return time.perf_counter() - started


def _filled_store(traces: int, rebuild: bool) -> tuple[Path, str, float | None]:
    """Return the cached store of `traces` traces (filling it first if needed), its experiment id, fill time."""
    folder = CACHE / f"{VERSION}-{traces}"
    marker = folder / "experiment_id"
    if marker.exists() and not rebuild:
        return folder, marker.read_text(), None
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    with SqlTraceStore(f"sqlite:///{folder / 'tracelake.db'}", str(folder / "artifacts")) as store:
        experiment_id = store.create_experiment("bench").experiment_id
        fill_s = _fill(store, experiment_id, 1, traces)
    marker.write_text(experiment_id)  # last: a store whose fill was interrupted is not reused
    print(f"filled the store with {traces} traces in {fill_s:.1f} s (cached in {folder})", flush=True)
    return folder, experiment_id, fill_s


def run(spans: int, incremental_traces: int, batch_traces: int, rebuild: bool = False) -> dict[str, Any]:
    traces = spans // SPANS_PER_TRACE
    cached, experiment_id, fill_s = _filled_store(traces, rebuild)
    artifacts = cached / "artifacts"
    packs_before = set(artifacts.rglob("*.pack"))
    with tempfile.TemporaryDirectory(prefix="bench-archive-") as folder:
        root = Path(folder)
        shutil.copy(cached / "tracelake.db", root / "tracelake.db")
        try:
            with SqlTraceStore(f"sqlite:///{root / 'tracelake.db'}", str(artifacts)) as store:
                st.enable(store.engine, experiment_id, str(root / "lake"), 900)
                started = time.perf_counter()
                backfill = run_sync(store, experiment_id, settle_ms=0, batch_traces=batch_traces)
                backfill_s = time.perf_counter() - started
                print(f"backfill: {backfill.spans} spans in {backfill_s:.1f} s", flush=True)

                _fill(store, experiment_id, traces + 1, incremental_traces)
                started = time.perf_counter()
                incremental = run_sync(store, experiment_id, settle_ms=0, batch_traces=batch_traces)
                incremental_s = time.perf_counter() - started
        finally:
            for pack in set(artifacts.rglob("*.pack")) - packs_before:  # the incremental traces' packs
                pack.unlink()
    return {
        "spans": backfill.spans,
        "traces": backfill.traces,
        "batch_traces": batch_traces,
        "fill_s": fill_s,
        "backfill_s": backfill_s,
        "backfill_spans_per_s": backfill.spans / backfill_s,
        "incremental_traces": incremental.traces,
        "incremental_spans": incremental.spans,
        "incremental_s": incremental_s,
    }


def markdown(result: dict[str, Any]) -> str:
    rows = [
        [
            f"backfill of {result['spans']:,} spans ({result['traces']:,} traces)",
            f"{result['backfill_s']:.1f} s = {result['backfill_spans_per_s']:,.0f} spans/s",
            ">= 50,000 spans/s",
            verdict(result["backfill_spans_per_s"] >= 50_000),
        ],
        [
            f"incremental sync of {result['incremental_traces']:,} new traces ({result['incremental_spans']:,} spans)",
            f"{result['incremental_s']:.2f} s",
            "< 5 s",
            verdict(result["incremental_s"] < 5),
        ],
    ]
    return "## Delta archive\n\n" + table(["measure", "result", "target", "verdict"], rows)


def main() -> None:
    p = parser(__doc__ or "")
    p.add_argument("--spans", type=int, default=1_000_000, help="spans to backfill (default 1,000,000)")
    p.add_argument("--incremental-traces", type=int, default=10_000, help="new traces of the incremental sync")
    p.add_argument("--batch-traces", type=int, default=5_000, help="traces per sync batch (Delta commit)")
    p.add_argument("--rebuild", action="store_true", help="fill the cached store again")
    args = p.parse_args()
    spans = 50_000 if args.quick else args.spans
    incremental = 1_000 if args.quick else args.incremental_traces
    emit(run(spans, incremental, args.batch_traces, args.rebuild), args.json, markdown)


if __name__ == "__main__":
    main()
