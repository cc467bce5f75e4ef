"""Metrics latency: `query_metrics` over a day of N traces (default 1,000,000), SQLite and PostgreSQL.

The index rows are generated and inserted directly (SQLite: executemany; PostgreSQL: COPY), as a
day of production traffic would leave them: traces in time order with random ids, 1% still running,
5% errors, token usage and cost, an `env` tag, and one LLM span per trace (three models). Each case
runs once to warm the caches, then `--reps` times; the median wall time is reported. Target: every
metric of a day in hourly buckets, ungrouped, under 1 s.

Usage: python benchmarks/bench_metrics.py [--quick] [--json out.json] [-n TRACES] [--postgres URL]
"""

from __future__ import annotations

import random
import sqlite3
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from _bench import emit, parser, table, verdict

from tracelake.query import METRICS, query_metrics
from tracelake.store import SqlTraceStore

T0 = 1_764_000_000_000  # ms, midnight UTC
DAY = 86_400_000
TARGET_S = 1.0
MODELS = ("gpt-4o", "gpt-4o-mini", "claude-sonnet")

TRACE_COLUMNS = (
    "trace_id, experiment_id, request_time, end_time, execution_duration, state, name, input_tokens,"
    " output_tokens, total_tokens, total_cost, span_count, payload_uri, last_update_time"
)
SPAN_COLUMNS = (
    "trace_id, span_id, experiment_id, parent_span_id, name, span_type, status, start_time_ns, end_time_ns,"
    " duration_ns, model_name, input_tokens, output_tokens, total_tokens, total_cost, counted"
)

CASES: list[tuple[str, dict[str, Any]]] = [
    ("all metrics, 1 h buckets", {"bucket_seconds": 3600}),
    (
        "count, errors, tokens, cost, 1 h",
        {"bucket_seconds": 3600, "metrics": ["request_count", "error_rate", "total_tokens", "cost"]},
    ),
    ("all metrics, 1 min buckets", {"bucket_seconds": 60}),
    ("all metrics, filter status = 'ERROR'", {"bucket_seconds": 3600, "filter_string": "status = 'ERROR'"}),
    ("all metrics, group_by tags.env", {"bucket_seconds": 3600, "group_by": "tags.env"}),
    ("all metrics, group_by model (LLM spans)", {"bucket_seconds": 3600, "group_by": "model"}),
]


def generate(count: int, experiment_id: int, seed: int = 1) -> Iterator[tuple[tuple[Any, ...], str, tuple[Any, ...]]]:
    """Yield (trace row, env tag, LLM span row) per trace, in request-time order."""
    rnd = random.Random(seed)
    times = sorted(T0 + rnd.randrange(DAY) for _ in range(count))
    for at in times:
        trace_id = f"{rnd.getrandbits(128):032x}"
        duration = None if rnd.random() < 0.01 else int(rnd.lognormvariate(6.5, 1.0))
        state = "IN_PROGRESS" if duration is None else ("ERROR" if rnd.random() < 0.05 else "OK")
        inputs, outputs = rnd.randrange(100, 3000), rnd.randrange(10, 800)
        cost = (inputs * 0.15 + outputs * 0.6) / 1e6
        end = None if duration is None else at + duration
        trace = (trace_id, experiment_id, at, end, duration, state, "agent", inputs, outputs, inputs + outputs)
        trace += (cost, 2, f"/bench/{trace_id}", at)
        call_ns = int(rnd.lognormvariate(6.0, 0.8) * 1_000_000)
        start_ns = at * 1_000_000 + 1_000
        span = (trace_id, "0000000000000002", experiment_id, "0000000000000001", "chat", "LLM", "OK", start_ns)
        span += (start_ns + call_ns, call_ns, rnd.choice(MODELS), inputs, outputs, inputs + outputs, cost, 1)
        yield trace, rnd.choice(("prod", "staging")), span


def load_sqlite(path: Path, count: int, experiment_id: int) -> None:
    connection = sqlite3.connect(path)
    try:
        traces, tags, spans = [], [], []
        for trace, env, span in generate(count, experiment_id):
            traces.append(trace)
            tags.append((trace[0], "env", env))
            spans.append(span)
            if len(traces) == 100_000:
                _flush_sqlite(connection, traces, tags, spans)
        _flush_sqlite(connection, traces, tags, spans)
    finally:
        connection.close()


def _flush_sqlite(connection: sqlite3.Connection, traces: list[Any], tags: list[Any], spans: list[Any]) -> None:
    with connection:
        connection.executemany(f"INSERT INTO traces ({TRACE_COLUMNS}) VALUES ({','.join('?' * 14)})", traces)
        connection.executemany("INSERT INTO trace_tags (trace_id, key, value) VALUES (?, ?, ?)", tags)
        connection.executemany(f"INSERT INTO spans ({SPAN_COLUMNS}) VALUES ({','.join('?' * 16)})", spans)
    traces.clear()
    tags.clear()
    spans.clear()


def load_postgres(url: str, count: int, experiment_id: int) -> None:
    import psycopg

    with psycopg.connect(url) as connection, connection.cursor() as cursor:
        rows = list(generate(count, experiment_id))
        with cursor.copy(f"COPY traces ({TRACE_COLUMNS}) FROM STDIN") as copy:
            for trace, _, _ in rows:
                copy.write_row(trace)
        with cursor.copy("COPY trace_tags (trace_id, key, value) FROM STDIN") as copy:
            for trace, env, _ in rows:
                copy.write_row((trace[0], "env", env))
        with cursor.copy(f"COPY spans ({SPAN_COLUMNS}) FROM STDIN") as copy:
            for _, _, span in rows:
                copy.write_row(span)
        connection.commit()
        cursor.execute("ANALYZE")  # what autovacuum would have done by the time a dashboard looks


@contextmanager
def postgres_database(server_url: str) -> Iterator[str]:
    import sqlalchemy as sa

    server = sa.make_url(server_url).set(drivername="postgresql+psycopg")
    name = f"tracelake_bench_{uuid.uuid4().hex[:8]}"
    admin = sa.create_engine(server, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(sa.text(f'CREATE DATABASE "{name}"'))
    try:
        yield server.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as connection:
            connection.execute(sa.text(f'DROP DATABASE "{name}" WITH (FORCE)'))
        admin.dispose()


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


def bench_backend(backend: str, count: int, reps: int, folder: Path, postgres_url: str | None) -> dict[str, Any]:
    if backend == "sqlite":
        path = folder / "bench.db"
        url = f"sqlite:///{path}"
    else:
        assert postgres_url is not None
        url = postgres_url
    with SqlTraceStore(url, str(folder / "artifacts")) as store:  # creates and migrates the schema
        experiment_id = store.create_experiment("bench").experiment_id
    started = time.perf_counter()
    if backend == "sqlite":
        load_sqlite(path, count, int(experiment_id))
    else:
        load_postgres(url.replace("postgresql+psycopg", "postgresql"), count, int(experiment_id))
    load_s = time.perf_counter() - started
    print(f"{backend}: loaded {count:,} traces in {load_s:.1f} s", file=sys.stderr)
    with SqlTraceStore(url, str(folder / "artifacts")) as store:
        cases = time_cases(store, experiment_id, reps)
    return {"backend": backend, "load_s": load_s, "cases": cases}


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
    arguments.add_argument("--reps", type=int, default=5)
    arguments.add_argument("--postgres", help="a PostgreSQL server URL: also benchmark a throwaway database there")
    options = arguments.parse_args()
    count = 20_000 if options.quick else options.traces
    reps = 2 if options.quick else options.reps
    backends = []
    with tempfile.TemporaryDirectory() as temporary:
        backends.append(bench_backend("sqlite", count, reps, Path(temporary), None))
        if options.postgres:
            with postgres_database(options.postgres) as url:
                backends.append(bench_backend("postgresql", count, reps, Path(temporary), url))
    emit({"traces": count, "backends": backends}, options.json, markdown)


if __name__ == "__main__":
    main()
