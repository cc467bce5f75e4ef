"""The server's ingest path replayed on one thread: CPU and wall time per span as the store grows.

Decodes bench_ingest's OTLP request bodies and writes them with `server.ingest.write_decoded` — what
`POST /v1/traces` does after reading the body — into an embedded store in a temp folder, on this
thread, and prints the CPU (this process, checkpoint and pack threads included) and wall time per
span for each chunk of requests, with the database's size. No HTTP and no other process: a change of
the write path shows here as a change of these figures, within about 5% run to run, where
bench_ingest moves by 10%. To compare two commits, run it with each one's `src` first on
PYTHONPATH. `--sql` runs statements on the fresh store first (e.g. dropping an index to see what it
costs). A diagnostic, not part of `run.sh`.

Usage: python benchmarks/profile_ingest.py [--requests 800] [--chunk 200] [--dir PARENT] [--sql STATEMENT ...]
"""

from __future__ import annotations

import argparse
import sqlite3
import tempfile
import time
from pathlib import Path

from bench_ingest import SPANS_PER_REQUEST, request_bodies

from tracelake.ingest.otlp import decode_protobuf
from tracelake.server.ingest import ExperimentResolver, ExperimentTarget, write_decoded
from tracelake.store import SqlTraceStore


def main() -> None:
    arguments = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    arguments.add_argument("--requests", type=int, default=800, help="512-span requests to write")
    arguments.add_argument("--chunk", type=int, default=200, help="requests per printed line")
    arguments.add_argument("--dir", help="parent folder of the store's temp folder")
    arguments.add_argument("--sql", action="append", default=[], help="a statement to run on the fresh store")
    options = arguments.parse_args()
    bodies = request_bodies(options.requests, seed=7)
    with tempfile.TemporaryDirectory(dir=options.dir, prefix="profile-ingest-") as folder:
        database = Path(folder) / "tracelake.db"
        with SqlTraceStore(f"sqlite:///{database}", str(Path(folder) / "artifacts")) as store:
            with sqlite3.connect(database) as connection:
                for statement in options.sql:
                    try:
                        connection.execute(statement)
                    except sqlite3.Error as exc:
                        raise SystemExit(f"--sql {statement!r} failed: {exc}") from None
            target, resolver = ExperimentTarget(name="profile-ingest"), ExperimentResolver()
            total_cpu = total_wall = 0.0
            for start in range(0, options.requests, options.chunk):
                chunk = bodies[start : start + options.chunk]
                cpu, wall = time.process_time(), time.perf_counter()
                for body in chunk:
                    write_decoded(store, decode_protobuf(body), target, resolver)
                cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
                total_cpu, total_wall = total_cpu + cpu, total_wall + wall
                spans = len(chunk) * SPANS_PER_REQUEST
                files = [Path(f"{database}{suffix}") for suffix in ("", "-wal")]
                size_mb = sum(file.stat().st_size for file in files if file.exists()) / 1e6
                print(
                    f"requests {start:5d}-{start + len(chunk) - 1:5d}: {cpu / spans * 1e6:5.1f} µs CPU/span,"
                    f" {wall / spans * 1e6:5.1f} µs wall/span, database and its log {size_mb:6.1f} MB"
                )
        spans = options.requests * SPANS_PER_REQUEST
        cpu_us, wall_us = total_cpu / spans * 1e6, total_wall / spans * 1e6
        print(f"all {spans:,} spans: {cpu_us:.1f} µs CPU/span, {wall_us:.1f} µs wall/span")


if __name__ == "__main__":
    main()
