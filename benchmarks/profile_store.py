"""Where the embedded store's write time goes: the store path replayed on one thread, under cProfile.

Makes N traces of 5 spans (the same as bench_persist) into an in-memory sink, then writes the very same
span records into the embedded store in batches of the exporter's size (`ingest.normalize`, then
`store.write_batches`), on this thread, first without and then with cProfile. This isolates the store
path (normalisation + SQL index + payload files) from the caller, from the span conversion and from
the exporter's threads, and prints its throughput and the top functions.

Usage: python benchmarks/profile_store.py [-n 2000] [--dir /dev/shm] [--top 30]
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import tempfile
import time

import bench_persist

import tracelake
from tracelake import _setup
from tracelake.ingest import normalize
from tracelake.model import SpanRecord
from tracelake.tracing import InMemorySink

BATCH = 1024


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("-n", type=int, default=2000, help="traces (5 spans each)")
    p.add_argument("--dir", help="parent folder of the temporary store (default: the system's temp folder)")
    p.add_argument("--top", type=int, default=30, help="functions to list")
    args = p.parse_args()

    memory = InMemorySink()
    tracelake.configure(sink=memory, experiment_name="profile")
    for i in range(2 * args.n):
        bench_persist.agent(f"question {i}")
    tracelake.flush(600)
    records = [record for _, record in memory.records]
    half = len(records) // 2

    with tempfile.TemporaryDirectory(prefix="profile-store-", dir=args.dir) as home:
        tracelake.configure(home=home, experiment_name="profile")
        store = _setup.get_store()
        experiment_id = store.get_or_create_experiment("profile").experiment_id

        def write(batch: list[SpanRecord]) -> None:
            for start in range(0, len(batch), BATCH):
                store.write_batches(experiment_id, normalize(batch[start : start + BATCH]))

        write(records[:5])  # warm-up: schema and first statements
        timed = records[5:half]
        t = time.perf_counter()
        write(timed)
        elapsed = time.perf_counter() - t
        print(
            f"store path alone: {len(timed):,} spans in {elapsed:.3f} s = {len(timed) / elapsed:,.0f} spans/s "
            f"({elapsed / len(timed) * 1e6:.1f} µs/span), store in {home}"
        )

        profile = cProfile.Profile()
        profile.enable()
        write(records[half:])
        profile.disable()
        tracelake.shutdown()
    stats = pstats.Stats(profile)
    stats.sort_stats("cumulative").print_stats(args.top)
    stats.sort_stats("tottime").print_stats(args.top)


if __name__ == "__main__":
    main()
