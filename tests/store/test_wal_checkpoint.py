"""SQLite's write-ahead log is checkpointed by a thread of the store, not inside store writes."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from tracelake.store import SqlTraceStore
from tracelake.store.sql.checkpoint import WRITER_AUTOCHECKPOINT_PAGES

from .builders import simple_trace, trace_id


def test_writes_leave_the_checkpoint_to_the_store_thread_and_lose_nothing(tmp_path: Path) -> None:
    database = tmp_path / "tracelake.db"
    store = SqlTraceStore(f"sqlite:///{database}", str(tmp_path / "artifacts"))
    experiment_id = store.create_experiment("support").experiment_id
    with store.engine.connect() as connection:
        # The writers' own automatic checkpoint is only a safety net, far above SQLite's 1,000.
        assert connection.exec_driver_sql("PRAGMA wal_autocheckpoint").scalar() == WRITER_AUTOCHECKPOINT_PAGES
    for number in range(1, 21):
        store.write_batches(experiment_id, [simple_trace(number)])
    checkpointer = store._checkpointer
    assert checkpointer is not None
    store.close()  # cuts the checkpointer's wait short: it checkpoints once more and stops
    assert checkpointer.checkpoints >= 1

    # A plain sqlite3 connection, after the store closed, sees every committed trace.
    with sqlite3.connect(database) as raw:
        stored = {row[0] for row in raw.execute("SELECT trace_id FROM traces")}
    assert stored == {trace_id(number) for number in range(1, 21)}


def test_a_store_that_wrote_nothing_starts_no_checkpoint_thread(tmp_path: Path) -> None:
    store = SqlTraceStore(f"sqlite:///{tmp_path / 'tracelake.db'}", str(tmp_path / "artifacts"))
    store.create_experiment("support")
    checkpointer = store._checkpointer
    store.close()
    assert checkpointer is not None and checkpointer.checkpoints == 0
