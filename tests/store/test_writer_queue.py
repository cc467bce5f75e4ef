"""The SQLite writer queue: writers of one database take turns across processes, and never hang."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from tracelake.store import SqlTraceStore
from tracelake.store.sql.writer_queue import WriterQueue, lock_path_of

from .builders import simple_trace

_HOLDER = """
import fcntl, os, sys
fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT)
fcntl.flock(fd, fcntl.LOCK_EX)
print("held", flush=True)
sys.stdin.readline()
"""


@contextmanager
def other_process_holding(path: Path) -> Iterator[subprocess.Popen[str]]:
    """Another process holding the queue's file lock until its stdin gets a line."""
    command = [sys.executable, "-c", _HOLDER, str(path)]
    with subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True) as holder:
        assert holder.stdout is not None
        try:
            assert holder.stdout.readline().strip() == "held"
            yield holder
        finally:
            holder.kill()


def release(holder: subprocess.Popen[str]) -> None:
    assert holder.stdin is not None
    holder.stdin.write("go\n")
    holder.stdin.flush()


def assert_waits_for(holder: subprocess.Popen[str], write: Callable[[], None]) -> None:
    """`write`, on a thread, does not finish while `holder` holds the lock, and does once it lets go."""
    entered = threading.Event()

    def run() -> None:
        write()
        entered.set()

    writer = threading.Thread(target=run)
    writer.start()
    writer.join(0.3)  # had the queue not waited, the writer would be done at once
    assert not entered.is_set()
    release(holder)
    writer.join(30)
    assert entered.is_set()


def test_the_lock_file_sits_beside_the_database(tmp_path: Path) -> None:
    assert lock_path_of(tmp_path / "tracelake.db") == tmp_path / "tracelake.db-writers"


def test_a_writer_waits_for_another_process_then_goes_on_when_it_lets_go(tmp_path: Path) -> None:
    lock_path = tmp_path / "db-writers"
    queue = WriterQueue(lock_path, timeout_s=60)

    def write() -> None:
        with queue.held():
            pass

    with other_process_holding(lock_path) as holder:
        assert_waits_for(holder, write)
    queue.close()


def test_a_writer_goes_on_after_its_timeout_so_sqlite_decides(tmp_path: Path) -> None:
    lock_path = tmp_path / "db-writers"
    queue = WriterQueue(lock_path, timeout_s=0.05)
    with other_process_holding(lock_path), queue.held():
        pass  # reached without the file lock: SQLite's busy timeout takes over from here
    queue.close()


def test_nested_use_in_one_thread_keeps_the_lock_until_the_outermost_exit(tmp_path: Path) -> None:
    lock_path = tmp_path / "db-writers"
    queue, probe = WriterQueue(lock_path, timeout_s=60), WriterQueue(lock_path, timeout_s=0.05)
    taken: list[bool] = []
    with queue.held():
        with queue.held():
            pass
        # Another queue of the same file (as another process's would be) still finds it taken.
        probe_thread = threading.Thread(target=lambda: taken.append(probe._lock_file()))
        probe_thread.start()
        probe_thread.join(30)
    assert taken == [False]
    assert probe._lock_file() is True
    queue.close()
    probe.close()


def test_a_queue_without_its_lock_file_still_lets_writers_through(tmp_path: Path) -> None:
    queue = WriterQueue(tmp_path / "missing-folder" / "db-writers", timeout_s=60)
    with queue.held():
        pass


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_a_forked_child_queues_on_its_own_even_if_a_parent_thread_held_the_queue(tmp_path: Path) -> None:
    queue = WriterQueue(tmp_path / "db-writers", timeout_s=0.05)
    holding, done = threading.Event(), threading.Event()

    def hold() -> None:
        with queue.held():
            holding.set()
            done.wait(30)

    holder = threading.Thread(target=hold)
    holder.start()
    assert holding.wait(30)
    pid = os.fork()
    if pid == 0:  # the child: the parent's thread is gone, its hold must not block us
        try:
            with queue.held():
                pass
        finally:
            os._exit(0)
    _, status = os.waitpid(pid, 0)
    done.set()
    holder.join(30)
    assert os.waitstatus_to_exitcode(status) == 0
    queue.close()


def test_a_store_write_waits_its_turn_behind_another_process(tmp_path: Path) -> None:
    database = tmp_path / "tracelake.db"
    with SqlTraceStore(f"sqlite:///{database}", str(tmp_path / "artifacts")) as store:
        experiment_id = store.get_or_create_experiment("queued").experiment_id
        assert lock_path_of(database).exists()
        with other_process_holding(lock_path_of(database)) as holder:
            assert_waits_for(holder, lambda: store.write_batches(experiment_id, [simple_trace(1)]))
        assert store.get_trace_info(simple_trace(1).trace_id).span_count > 0
