"""Search and get-trace latency at 100,000 and 1,000,000 traces, on SQLite and PostgreSQL (issue 3).

The stores are built by `_dataset.py` (a day of agent traffic: 3-10 spans per trace, tags, metadata,
3% errors; bulk-loaded as index rows, the last 1,000 traces through the store's write API so that
their payloads exist) and cached under `benchmarks/out/datasets/` and in PostgreSQL databases
`tracelake_bench_<version>_<N>`, so reruns skip the build.

Each case calls what the server calls, `tracelake.query.search_traces` (first page,
`max_results=100`, newest first) or `SqlTraceStore.get_trace` (summary, assessments and spans, the
payload read and decompressed), in this process; the parameters change from one repetition to the
next (another tag value, another hour, another trace) so that no answer is cached. After 5 warm-up
calls, `--reps` timed calls (fewer, at least 10, for a case slow enough to take over 15 s; such a
case also warms up with one call) give p50, p95 and p99. A few cases also go through a real
`tracelake server` on loopback (`POST /api/v1/traces/search`, `GET /api/v1/traces/{id}`), for the
cost of HTTP and JSON on top. Target: every search's p95 under 50 ms.

Usage: python benchmarks/bench_search.py [--quick] [--json out.json] [--sizes 100000,1000000]
       [--postgres URL] [--reps N] [--no-rest] [--rebuild]
"""

from __future__ import annotations

import random
import re
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import _dataset
from _bench import emit, parser, table, verdict
from _dataset import FEATURES, RARE_TOOL, T0, USERS, Dataset

from tracelake.query import search_traces

TARGET_MS = 50.0
HOUR = 3_600_000
WARMUP = 5
MIN_REPS = 10

# (label, filter maker) — each maker gets a Random and returns the filter of one call.
SEARCHES: list[tuple[str, Callable[[random.Random], str | None]]] = [
    ("no filter, newest first", lambda rnd: None),
    ("tag filter (`tags.feature = …`, 1 in 8)", lambda rnd: f"tags.feature = '{rnd.choice(FEATURES)}'"),
    (
        "time range (1 h) + `status = 'ERROR'`",
        lambda rnd: (lambda a: f"timestamp_ms >= {a} AND timestamp_ms < {a + HOUR} AND status = 'ERROR'")(
            T0 + rnd.randrange(23) * HOUR
        ),
    ),
    (f"span-name filter (`span.name = '{RARE_TOOL}'`, 1 in 100)", lambda rnd: f"span.name = '{RARE_TOOL}'"),
    ("span-name filter (`span.name = 'lookup_order'`, common)", lambda rnd: "span.name = 'lookup_order'"),
    ("metadata filter, one user (`metadata.user_id = …`, 1 in 5,000)", lambda rnd: _user(rnd)),
    (
        "time range (1 h) + `tags.feature = 'refunds'`",
        lambda rnd: (lambda a: f"timestamp_ms >= {a} AND timestamp_ms < {a + HOUR} AND tags.feature = 'refunds'")(
            T0 + rnd.randrange(23) * HOUR
        ),
    ),
]


def _user(rnd: random.Random) -> str:
    return f"metadata.user_id = 'user-{rnd.randrange(USERS):05d}'"


def percentiles(samples_ms: list[float]) -> dict[str, float]:
    """Nearest-rank p50/p95/p99 and the mean, in ms."""
    ordered = sorted(samples_ms)

    def rank(p: float) -> float:
        return ordered[max(0, min(len(ordered) - 1, -(-len(ordered) * p // 100) - 1))]

    return {"p50": rank(50), "p95": rank(95), "p99": rank(99), "mean": statistics.fmean(ordered)}


def _time(call: Callable[[random.Random], Any], reps: int, seed: int) -> tuple[dict[str, float], Any]:
    rnd = random.Random(seed)
    answer = None
    started, calls = time.perf_counter(), 0
    for _ in range(WARMUP):
        answer = call(rnd)
        calls += 1
        if time.perf_counter() - started > 1.0:
            break  # a case that slow is warm after one call
    # A case far off the target needs no hundred samples to show it: cap it at about 15 s.
    per_call = (time.perf_counter() - started) / calls
    reps = max(MIN_REPS, min(reps, int(15 / max(per_call, 1e-6))))
    samples = []
    for _ in range(reps):
        started = time.perf_counter()
        call(rnd)
        samples.append((time.perf_counter() - started) * 1000)
    return {**percentiles(samples), "reps": reps}, answer


def bench_dataset(dataset: Dataset, reps: int, rest: bool) -> dict[str, Any]:
    results: list[dict[str, Any]] = []
    with dataset.open() as store:
        experiments = [dataset.experiment_id]
        for seed, (label, make_filter) in enumerate(SEARCHES):

            def search(rnd: random.Random, make_filter: Callable[[random.Random], str | None] = make_filter) -> Any:
                return search_traces(store, experiments, make_filter(rnd), max_results=100)

            stats, page = _time(search, reps, seed)
            results.append({"case": label, "via": "search_traces", **stats, "rows": len(page.trace_infos)})
            _report(dataset, results[-1])
        # The second page: the keyset token of the first.
        first = search_traces(store, experiments, None, max_results=100)
        stats, page = _time(
            lambda rnd: search_traces(store, experiments, None, max_results=100, page_token=first.next_page_token),
            reps,
            99,
        )
        results.append({"case": "no filter, page 2 (page token)", "via": "search_traces", **stats, "rows": 100})
        _report(dataset, results[-1])
        ids = dataset.api_trace_ids
        stats, trace = _time(lambda rnd: store.get_trace(rnd.choice(ids)), reps, 100)
        results.append(
            {"case": "get trace with spans", "via": "SqlTraceStore.get_trace", **stats, "rows": len(trace.data.spans)}
        )
        _report(dataset, results[-1])
    if rest:
        results += _bench_rest(dataset, reps)
    return {"backend": dataset.backend, "traces": dataset.count, "build_s": dataset.build_s, "cases": results}


def _report(dataset: Dataset, result: dict[str, Any]) -> None:
    print(
        f"  {dataset.backend} {dataset.count:,}: {result['case']} ({result['via']}): p50 {result['p50']:.1f} ms,"
        f" p95 {result['p95']:.1f} ms, p99 {result['p99']:.1f} ms",
        file=sys.stderr,
        flush=True,
    )


def _bench_rest(dataset: Dataset, reps: int) -> list[dict[str, Any]]:
    """The same reads through a real `tracelake server` on loopback (one process)."""
    import httpx

    results = []
    with tempfile.TemporaryDirectory(prefix="bench-search-") as home:
        command = [sys.executable, "-m", "tracelake.cli", "--home", home, "server", "--port", "0"]
        command += ["--database", dataset.database_url, "--artifacts", dataset.artifact_root]
        process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        try:
            assert process.stdout is not None
            match = re.search(r"listening on (\S+)", process.stdout.readline())
            if match is None:
                raise RuntimeError("the server did not start")
            url = match.group(1)
            # Read (and drop) the rest of its output: a full pipe would block the server's logging.
            threading.Thread(target=process.stdout.read, daemon=True).start()
            with httpx.Client(base_url=url, timeout=60) as client:
                _wait_healthy(client)
                experiments = [dataset.experiment_id]
                for label, make_filter in (SEARCHES[0], SEARCHES[1]):

                    def search(
                        rnd: random.Random, make_filter: Callable[[random.Random], str | None] = make_filter
                    ) -> Any:
                        body = {"experiment_ids": experiments, "filter": make_filter(rnd), "max_results": 100}
                        response = client.post("/api/v1/traces/search", json=body)
                        response.raise_for_status()
                        return response.json()

                    stats, page = _time(search, reps, 7)
                    results.append({"case": label, "via": "REST", **stats, "rows": len(page["traces"])})
                    _report(dataset, results[-1])

                def get(rnd: random.Random) -> Any:
                    response = client.get(f"/api/v1/traces/{rnd.choice(dataset.api_trace_ids)}")
                    response.raise_for_status()
                    return response.json()

                stats, trace = _time(get, reps, 8)
                results.append(
                    {
                        "case": "get trace with spans",
                        "via": "REST",
                        **stats,
                        "rows": len(trace["trace"]["data"]["spans"]),
                    }
                )
                _report(dataset, results[-1])
        finally:
            process.terminate()
            process.wait(30)
    return results


def _wait_healthy(client: Any) -> None:
    import httpx

    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if client.get("/health").status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.05)
    raise RuntimeError("the server did not answer /health")


def postgres_reachable(url: str) -> bool:
    import sqlalchemy as sa

    engine = sa.create_engine(sa.make_url(url).set(drivername="postgresql+psycopg"))
    try:
        with engine.connect():
            return True
    except Exception:
        return False
    finally:
        engine.dispose()


def _built(seconds: float | None) -> str:
    return "cached" if seconds is None else f"built in {seconds:.0f} s"


def markdown(result: dict[str, Any]) -> str:
    lines = ["### Search and get-trace latency", ""]
    rows = []
    for run in result["runs"]:
        for case in run["cases"]:
            rows.append(
                [
                    run["backend"],
                    f"{run['traces']:,}",
                    case["case"],
                    case["via"],
                    f"{case['p50']:.1f}",
                    f"{case['p95']:.1f}",
                    f"{case['p99']:.1f}",
                    case["rows"],
                ]
            )
    lines.append(
        table(["database", "traces", "query", "through", "p50 ms", "p95 ms", "p99 ms", "traces (spans) returned"], rows)
    )
    builds = [f"{run['backend']} {run['traces']:,}: {_built(run['build_s'])}" for run in result["runs"]]
    lines += [
        "",
        f"{result['reps']} timed calls per case after {WARMUP} warm-up calls (at least {MIN_REPS} for a case slow"
        f" enough to take over 15 s). Datasets: {'; '.join(builds)}.",
    ]
    if result.get("postgres_skipped"):
        lines.append(f"PostgreSQL skipped: {result['postgres_skipped']}.")
    worst = max(
        (
            c["p95"]
            for r in result["runs"]
            for c in r["cases"]
            if c["via"] == "search_traces" and "get trace" not in c["case"]
        ),
        default=0.0,
    )
    lines += [
        "",
        f"Target: every search's p95 under {TARGET_MS:.0f} ms (worst: {worst:.1f} ms) → {verdict(worst < TARGET_MS)}",
    ]
    return "\n".join(lines)


def main() -> None:
    arguments = parser(__doc__.splitlines()[0])
    arguments.add_argument("--sizes", default="100000,1000000", help="comma-separated trace counts")
    arguments.add_argument("--postgres", help="PostgreSQL server URL (datasets are databases there)")
    arguments.add_argument("--reps", type=int, default=100)
    arguments.add_argument("--no-rest", action="store_true", help="skip the cases through a real server")
    arguments.add_argument("--rebuild", action="store_true", help="rebuild the datasets even when cached")
    arguments.add_argument("--cache", type=Path, default=_dataset.CACHE)
    options = arguments.parse_args()
    sizes = [20_000] if options.quick else [int(size) for size in options.sizes.split(",")]
    reps = 30 if options.quick else options.reps
    runs, skipped = [], None
    postgres = options.postgres
    if postgres and not postgres_reachable(postgres):
        skipped, postgres = f"no PostgreSQL server answers at {postgres}", None
    for size in sizes:
        datasets = [_dataset.sqlite_dataset(size, options.rebuild, options.cache)]
        if postgres:
            datasets.append(_dataset.postgres_dataset(postgres, size, options.rebuild, options.cache))
        for dataset in datasets:
            runs.append(bench_dataset(dataset, reps, rest=not options.no_rest))
    emit({"reps": reps, "runs": runs, "postgres_skipped": skipped}, options.json, markdown)


if __name__ == "__main__":
    main()
