"""Migrations 0007 and 0009 change search indexes: an upgraded store answers as before, from the new ones."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic import command

from tracelake.model import StatusCode, TraceBatch, TraceFields
from tracelake.query import search_traces
from tracelake.store import SqlTraceStore
from tracelake.store.sql.migrate import alembic_config

from .test_search_store import span

FILTERS = [
    "status = 'ERROR' AND timestamp_ms >= 100 AND timestamp_ms < 400",
    "span.name = 'refund_tool'",
    "tags.vip = 'yes'",
    "metadata.user_id = 'u1'",
]
# (an older revision, indexes it lacks that the head has, indexes it has that the head dropped)
UPGRADES = [
    ("0006", {"ix_traces_experiment_state_time"}, set()),
    (
        "0008",
        {"ix_trace_tags_key_value", "ix_trace_metadata_key_value"},
        {"ix_trace_tags_key_value_trace", "ix_trace_metadata_key_value_trace"},
    ),
]


def _answers(store: SqlTraceStore, experiment_id: str) -> list[list[str]]:
    return [
        [info.trace_id for info in search_traces(store, [experiment_id], text, max_results=50).trace_infos]
        for text in FILTERS
    ]


@pytest.mark.parametrize(("revision", "added", "dropped"), UPGRADES, ids=[revision for revision, _, _ in UPGRADES])
def test_a_store_upgraded_to_the_search_indexes_answers_as_before(
    tmp_path: Path, revision: str, added: set[str], dropped: set[str]
) -> None:
    url = f"sqlite:///{tmp_path / 'tracelake.db'}"
    with SqlTraceStore(url, str(tmp_path / "artifacts")) as store:
        experiment_id = store.create_experiment("upgrade").experiment_id
        batches = []
        for n in range(1, 41):
            trace_id = f"{n:032x}"
            tool = "refund_tool" if n % 10 == 0 else "lookup_tool"
            status = StatusCode.ERROR if n % 3 == 0 else StatusCode.OK
            spans = [
                span(trace_id, f"{2 * n:016x}", "agent", n * 10, n * 10 + 9, status=status),
                span(trace_id, f"{2 * n + 1:016x}", tool, n * 10 + 1, n * 10 + 5, parent_id=f"{2 * n:016x}"),
            ]
            fields = TraceFields(tags={"vip": "yes" if n % 7 == 0 else "no"}, metadata={"user_id": f"u{n % 4}"})
            batches.append(TraceBatch(trace_id=trace_id, spans=spans, fields=fields))
        store.write_batches(experiment_id, batches)
        expected = _answers(store, experiment_id)
        # Back to an older revision's indexes, with planner statistics, as a store of an older tracelake has them.
        with store.engine.begin() as connection:
            command.downgrade(alembic_config(connection), revision)
            connection.exec_driver_sql("ANALYZE")
            names = {index["name"] for index in _indexes(connection)}
            assert not added & names
            assert dropped <= names

    with SqlTraceStore(url, str(tmp_path / "artifacts")) as store:  # upgrades to the head again
        assert _answers(store, experiment_id) == expected
        with store.engine.connect() as connection:
            names = {index["name"] for index in _indexes(connection)}
            assert names >= added
            assert not dropped & names
            analyzed = set(connection.exec_driver_sql("SELECT idx FROM sqlite_stat1").scalars())
            assert analyzed >= added


def _indexes(connection: sa.Connection) -> list[sa.engine.interfaces.ReflectedIndex]:
    inspector = sa.inspect(connection)
    return [
        index for table in ("traces", "spans", "trace_tags", "trace_metadata") for index in inspector.get_indexes(table)
    ]
