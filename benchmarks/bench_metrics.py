"""Metrics latency: `query_metrics` over a day of N traces (default 1,000,000), SQLite and PostgreSQL.

The stores are the datasets of `_dataset.py`, shared with `bench_search.py` and cached (a day of
agent traffic: 3-10 spans per trace of which 1-3 LLM calls with a model, tokens and cost, tags
`feature` and `release`, metadata `environment`, 3% errors, 0.5% in progress). Each case runs once
to warm the caches, then `--reps` times (default 3); the median wall time is reported (and, on SQLite, where the
query runs in this process, its CPU time). Target: every metric of a day in hourly buckets,
ungrouped, under 1 s.

Usage: python benchmarks/bench_metrics.py [--quick] [--json out.json] [-n TRACES] [--postgres URL] [--rebuild]
"""

from __future__ import annotations

import statistics
import sys
import time
from pathlib import Path
from typing import Any

import _dataset
from _bench import emit, parser, table, verdict
from _dataset import DAY, T0, Dataset

from tracelake.query import METRICS, query_metrics
from tracelake.store import SqlTraceStore

TARGET_S = 1.0

CASES: list[tuple[str, dict[str, Any]]] = [
    ("all metrics, 1 h buckets", {"bucket_seconds": 3600}),
    (
        "count, errors, tokens, cost, 1 h",
        {"bucket_seconds": 3600, "metrics": ["request_count", "error_rate", "total_tokens", "cost"]},
    ),
    ("all metrics, 1 min buckets", {"bucket_seconds": 60}),
    ("all metrics, filter status = 'ERROR'", {"bucket_seconds": 3600, "filter_string": "status = 'ERROR'"}),
    ("all metrics, group_by tags.feature", {"bucket_seconds": 3600, "group_by": "tags.feature"}),
    ("all metrics, group_by metadata.environment", {"bucket_seconds": 3600, "group_by": "metadata.environment"}),
    ("all metrics, group_by model (LLM spans)", {"bucket_seconds": 3600, "group_by": "model"}),
]


def time_cases(store: SqlTraceStore, experiment_id: str, reps: int) -> list[dict[str, Any]]:
    results = []
    for label, options in CASES:
        arguments = {"metrics": list(METRICS), **options}
        answer = query_metrics(store, [experiment_id], T0, T0 + DAY, **arguments)  # warm-up; the answer's size
        walls, cpus = [], []
        for _ in range(reps):
            started, cpu = time.perf_counter(), time.process_time()
            query_metrics(store, [experiment_id], T0, T0 + DAY, **arguments)
            walls.append(time.perf_counter() - started)
            cpus.append(time.process_time() - cpu)
        points = sum(len(series.points) for series in answer.series)
        median = statistics.median(walls)
        # On SQLite the query runs in this process: its CPU time is the figure other load cannot inflate.
        results.append({"case": label, "median_s": median, "cpu_s": statistics.median(cpus), "points": points})
        print(f"  {label}: {median:.3f} s", file=sys.stderr)
    return results


def bench_dataset(dataset: Dataset, reps: int) -> dict[str, Any]:
    print(f"{dataset.backend} {dataset.count:,}:", file=sys.stderr)
    with dataset.open() as store:
        cases = time_cases(store, dataset.experiment_id, reps)
    return {"backend": dataset.backend, "build_s": dataset.build_s, "cases": cases}


def markdown(result: dict[str, Any]) -> str:
    lines = [f"### Metrics over a day of {result['traces']:,} traces", ""]
    rows = []
    for backend in result["backends"]:
        for case in backend["cases"]:
            cpu = f"{case['cpu_s']:.3f}" if backend["backend"] == "sqlite" else "(server)"
            rows.append([backend["backend"], case["case"], f"{case['median_s']:.3f}", cpu, case["points"]])
    lines.append(table(["database", "query", "median wall s", "median CPU s", "points"], rows))
    lines += ["", f"Load average at the end: {Path('/proc/loadavg').read_text().split()[0]} (2 cores)"]
    headline = [b["cases"][0]["median_s"] for b in result["backends"]]
    lines += [
        "",
        f"Target: every metric of the day, hourly, under {TARGET_S:.0f} s: {verdict(max(headline) < TARGET_S)}",
    ]
    return "\n".join(lines)


def main() -> None:
    arguments = parser(__doc__.splitlines()[0])
    arguments.add_argument("-n", "--traces", type=int, default=1_000_000)
    arguments.add_argument("--reps", type=int, default=3)
    arguments.add_argument("--postgres", help="a PostgreSQL server URL: also benchmark a dataset database there")
    arguments.add_argument("--rebuild", action="store_true", help="rebuild the datasets even when cached")
    arguments.add_argument("--cache", type=Path, default=_dataset.CACHE)
    options = arguments.parse_args()
    count = 20_000 if options.quick else options.traces
    reps = 2 if options.quick else options.reps
    backends = [bench_dataset(_dataset.sqlite_dataset(count, options.rebuild, options.cache), reps)]
    if options.postgres:
        dataset = _dataset.postgres_dataset(options.postgres, count, options.rebuild, options.cache)
        backends.append(bench_dataset(dataset, reps))
    emit({"traces": count, "backends": backends}, options.json, markdown)


if __name__ == "__main__":
    main()
