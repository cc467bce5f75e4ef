"""Scorers: traces/s judged by a code scorer, and judge calls in flight against the LLM stub.

A temp embedded store (SQLite) is filled with complete traces; a code scorer is registered and the
scorers job of `tracelake monitor` is ticked until every trace has its assessment (selection,
claims in `scorer_runs`, loading spans, the time-limited call, the assessment write: all timed).
Then a Guidelines judge scores traces against the local LLM stub (`tracelake.testing.llm_stub`,
which answers at once: the figure is the worker's own overhead per call) at several concurrency
settings, recording calls/s and the most calls seen in flight at once.

No target is set by issue 6 for these figures; they are recorded.

Usage: python benchmarks/bench_scorers.py [--quick] [--json out.json] [--traces N] [--judge-traces N]
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path
from typing import Any

from _bench import emit, parser, table

from tracelake.model import Span, SpanStatus, StatusCode, TraceBatch
from tracelake.monitoring import Guidelines, list_scorers, scorer
from tracelake.monitoring.scorers.job import ScorerJob, ScorerSettings
from tracelake.monitoring.scorers.judge_client import JudgeClient, JudgeConfig
from tracelake.monitoring.scorers.registry import register_scorer
from tracelake.store import SqlTraceStore
from tracelake.testing.llm_stub import LLMStub

T0_MS = 1_764_000_000_000


def _trace(n: int) -> TraceBatch:
    trace_id = f"{n:032x}"
    start = (T0_MS + n) * 1_000_000
    root = Span(
        trace_id,
        f"{n:016x}",
        None,
        "agent",
        "AGENT",
        start,
        start + 5_000_000,
        SpanStatus(StatusCode.OK),
        inputs={"question": f"Where is order {n}?"},
        outputs=f"Order {n} ships tomorrow.",
    )
    return TraceBatch(trace_id, [root])


@scorer
def concise(outputs: Any) -> bool:
    return len(str(outputs)) < 800


def _fill(store: SqlTraceStore, name: str, traces: int, offset: int = 0) -> None:
    experiment = store.create_experiment(name).experiment_id
    for start in range(0, traces, 5_000):
        store.write_batches(experiment, [_trace(offset + n) for n in range(start, min(traces, start + 5_000))])


def _drain(job: ScorerJob, store: SqlTraceStore, experiment: str) -> float:
    """Tick the job until a tick judges nothing; return the seconds it took."""
    registrations = list_scorers(experiment, store=store)
    t0 = time.perf_counter()
    while True:
        judged = sum(job.score_batch(r, T0_MS + 10**9).claimed for r in registrations)
        if judged == 0:
            return time.perf_counter() - t0


def run(traces: int, judge_traces: int, concurrencies: list[int]) -> dict[str, Any]:
    result: dict[str, Any] = {"traces": traces, "judge_traces": judge_traces, "judge": []}
    with tempfile.TemporaryDirectory(prefix="bench-scorers-") as folder:
        root = Path(folder)
        with SqlTraceStore(f"sqlite:///{root / 'tracelake.db'}", str(root / "artifacts")) as store:
            _fill(store, "code", traces)
            register_scorer(concise, "code", store=store, now_ms=T0_MS - 1)
            job = ScorerJob(store, ScorerSettings(concurrency=4, batch_size=500))
            try:
                seconds = _drain(job, store, "code")
            finally:
                job.close()
            result["code_s"] = seconds
            result["code_traces_per_s"] = traces / seconds

            with LLMStub() as stub:
                for index, concurrency in enumerate(concurrencies):
                    name = f"judged-{concurrency}"
                    _fill(store, name, judge_traces, offset=(index + 1) * 10_000_000)
                    judge = Guidelines(name="polite", guidelines=["The response is polite."])
                    register_scorer(judge, name, store=store, now_ms=T0_MS - 1)
                    client = JudgeClient(JudgeConfig(stub.base_url, "gpt-4o-mini", "unused", 30))
                    job = ScorerJob(store, ScorerSettings(concurrency=concurrency, batch_size=200), judge=client)
                    try:
                        seconds = _drain(job, store, name)
                    finally:
                        job.close()
                    result["judge"].append(
                        {
                            "concurrency": concurrency,
                            "calls": job.stats.judge_calls,
                            "seconds": seconds,
                            "calls_per_s": job.stats.judge_calls / seconds,
                            "max_in_flight": job.stats.max_in_flight,
                        }
                    )
    return result


def markdown(result: dict[str, Any]) -> str:
    rows = [
        [
            f"code scorer over {result['traces']:,} traces",
            f"{result['code_s']:.2f} s = {result['code_traces_per_s']:,.0f} traces/s",
            "recorded",
        ]
    ]
    for item in result["judge"]:
        rows.append(
            [
                f"Guidelines judge, {item['calls']:,} calls to the stub, concurrency {item['concurrency']}",
                f"{item['calls_per_s']:,.0f} calls/s, at most {item['max_in_flight']} in flight",
                "recorded",
            ]
        )
    return "## Scorers\n\n" + table(["measure", "result", "target"], rows)


def main() -> None:
    p = parser(__doc__ or "")
    p.add_argument("--traces", type=int, default=10_000, help="traces judged by the code scorer")
    p.add_argument("--judge-traces", type=int, default=1_000, help="traces judged by the LLM judge, per setting")
    args = p.parse_args()
    traces = 1_000 if args.quick else args.traces
    judge_traces = 100 if args.quick else args.judge_traces
    emit(run(traces, judge_traces, [1, 8, 32]), args.json, markdown)


if __name__ == "__main__":
    main()
