from __future__ import annotations

import multiprocessing
import threading
from collections.abc import Callable
from pathlib import Path

from tracelake.model import TraceState
from tracelake.store import SqlTraceStore

from .builders import make_batch, make_span, simple_trace, trace_id
from .workers import open_and_write


def run_threads(count: int, target: Callable[[int], None]) -> None:
    errors: list[BaseException] = []
    barrier = threading.Barrier(count)

    def run(worker: int) -> None:
        try:
            barrier.wait()
            target(worker)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(n,)) for n in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []


def test_two_stores_share_one_database(database_url: str, artifact_root: Path) -> None:
    with (
        SqlTraceStore(database_url, str(artifact_root)) as app,
        SqlTraceStore(database_url, str(artifact_root)) as server,
    ):
        experiment_id = app.get_or_create_experiment("shared").experiment_id
        assert server.get_or_create_experiment("shared").experiment_id == experiment_id

        app.write_batches(experiment_id, [make_batch([make_span(1, 2, 1, 5, 6)])])
        server.write_batches(experiment_id, [make_batch([make_span(1, 1, None, 0, 10)])])
        app.write_batches(experiment_id, [make_batch([make_span(1, 1, None, 0, 10)])])

        for store in (app, server):
            info = store.get_trace_info(trace_id(1))
            assert info.span_count == 2
            assert info.state == TraceState.OK
            assert len(store.get_spans(trace_id(1))) == 2
        server.set_trace_tag(trace_id(1), "seen", "yes")
        assert app.get_trace_info(trace_id(1)).tags == {"seen": "yes"}


def test_threads_writing_through_two_stores(database_url: str, artifact_root: Path) -> None:
    # Four threads over two stores (two engines) write their own traces and the spans of one shared
    # trace, while reading: nothing is lost, nothing is counted twice.
    with (
        SqlTraceStore(database_url, str(artifact_root)) as first,
        SqlTraceStore(database_url, str(artifact_root)) as second,
    ):
        experiment_id = first.create_experiment("busy").experiment_id

        def work(worker: int) -> None:
            store = first if worker % 2 else second
            for round_ in range(10):
                own = 100 * (worker + 1) + round_
                shared = make_batch([make_span(1, 10 * worker + round_ + 2, 1, round_, round_ + 1)])
                store.write_batches(experiment_id, [simple_trace(own), shared, simple_trace(own)])
                assert store.get_trace_info(trace_id(own)).span_count == 3

        run_threads(4, work)
        first.write_batches(experiment_id, [make_batch([make_span(1, 1, None, 0, 50)])])

        assert second.get_trace_info(trace_id(1)).span_count == 41
        assert len(first.get_spans(trace_id(1))) == 41
        owned = [trace_id(100 * (w + 1) + r) for w in range(4) for r in range(10)]
        assert [info.span_count for info in second.get_trace_infos(owned)] == [3] * 40


def test_processes_opening_a_fresh_database_at_once(fresh_database_url: str, artifact_root: Path) -> None:
    context = multiprocessing.get_context("spawn")
    workers = 3
    barrier = context.Barrier(workers)
    results = context.Queue()
    processes = [
        context.Process(target=open_and_write, args=(fresh_database_url, str(artifact_root), n, barrier, results))
        for n in range(1, workers + 1)
    ]
    for process in processes:
        process.start()
    outcomes = dict(results.get(timeout=120) for _ in processes)
    for process in processes:
        process.join()

    assert outcomes == {n: None for n in range(1, workers + 1)}
    with SqlTraceStore(fresh_database_url, str(artifact_root)) as store:
        assert [e.name for e in store.list_experiments()] == ["shared"]
        assert [i.span_count for i in store.get_trace_infos([trace_id(n) for n in range(1, workers + 1)])] == [3] * 3
        assert store.get_trace_info(trace_id(999)).span_count == workers
