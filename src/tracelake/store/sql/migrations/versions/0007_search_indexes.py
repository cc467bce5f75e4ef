"""Search indexes: the trace id in the tag and metadata value indexes, and state with time on traces.

Each replaces an index that is its prefix, so writes maintain as many indexes as before:

- `trace_tags` / `trace_metadata (key, value, trace_id)`: the traces a rare tag or metadata value
  allows are listed from the index alone, and search starts from them (`tracelake.query.narrowing`);
- `traces (experiment_id, state, request_time)`: `status = 'ERROR'` over a time range reads the
  matching traces newest first instead of every trace of the range.

The spans' name index keeps (experiment_id, name): with the trace id in it, every span insert lands
at a random place in a large index instead of at the end of its name's range, which cost about 7%
of the embedded store's write throughput (bench_persist), for one search case (a rare span name).

On SQLite the new indexes get planner statistics at once when the database has some (a bounded
`ANALYZE`), so a plan is never chosen from one index's statistics and another's defaults.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-26
"""

from __future__ import annotations

from alembic import op

from tracelake.store.sql.migrate import analyze_indexes

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

# (table, old index, old columns, new index, new columns)
_CHANGES = (
    ("traces", "ix_traces_experiment_state", ["experiment_id", "state"], "ix_traces_experiment_state_time",
     ["experiment_id", "state", "request_time"]),
    ("trace_tags", "ix_trace_tags_key_value", ["key", "value"], "ix_trace_tags_key_value_trace",
     ["key", "value", "trace_id"]),
    ("trace_metadata", "ix_trace_metadata_key_value", ["key", "value"], "ix_trace_metadata_key_value_trace",
     ["key", "value", "trace_id"]),
)  # fmt: skip


def upgrade() -> None:
    for table, old, _, new, columns in _CHANGES:
        op.create_index(new, table, columns)
        op.drop_index(old, table_name=table)
    analyze_indexes(op.get_bind(), [new for _, _, _, new, _ in _CHANGES])


def downgrade() -> None:
    for table, old, columns, new, _ in _CHANGES:
        op.create_index(old, table, columns)
        op.drop_index(new, table_name=table)
    analyze_indexes(op.get_bind(), [old for _, old, _, _, _ in _CHANGES])
