"""Code run in child processes by the concurrency tests (importable, so `spawn` can find it)."""

from __future__ import annotations

import traceback
from typing import Any

from tracelake.store import SqlTraceStore

from .builders import make_batch, make_span, simple_trace


def open_and_write(database_url: str, artifact_root: str, worker: int, barrier: Any, results: Any) -> None:
    """Wait for the other workers, then all at once: open the store, get the experiment, write."""
    try:
        barrier.wait()
        with SqlTraceStore(database_url, artifact_root) as store:
            experiment = store.get_or_create_experiment("shared")
            # Each worker writes a trace of its own and one span of a trace they all share.
            shared = make_batch([make_span(999, 10 + worker, 1, worker, worker + 1)])
            store.write_batches(experiment.experiment_id, [simple_trace(worker), shared])
        results.put((worker, None))
    except BaseException:
        results.put((worker, traceback.format_exc()))
