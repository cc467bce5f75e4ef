"""Tag and metadata value indexes go back to (key, value): inserts land at the end of each value.

Migration 0007 put the trace id into `trace_tags` / `trace_metadata (key, value, trace_id)` so that
a rare value's traces were listed from the index alone. Trace ids are random, so every tag and
metadata row of a new trace landed at a random place in the index: with a handful of metadata keys
per trace (environment, service, session, user), that index was a third of the pages each ingest
transaction wrote to SQLite's log, and about 11% of the server's CPU per span.

With `(key, value)` the entries of one value are in row-id order, i.e. in insert order, so a new
trace's rows land at the end of its values' ranges. Search still starts from a rare value's index
entries (`tracelake.query.narrowing`); it reads each one's row for the trace id, which costs little
for the few thousand entries a value may have before search walks traces in time order instead.
Counting a value's entries reads the index alone.

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-26
"""

from __future__ import annotations

from alembic import op

from tracelake.store.sql.migrate import analyze_indexes

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

# (table, index with the trace id, index without it)
_TABLES = (
    ("trace_tags", "ix_trace_tags_key_value_trace", "ix_trace_tags_key_value"),
    ("trace_metadata", "ix_trace_metadata_key_value_trace", "ix_trace_metadata_key_value"),
)


def upgrade() -> None:
    for table, with_trace, without in _TABLES:
        op.create_index(without, table, ["key", "value"])
        op.drop_index(with_trace, table_name=table)
    analyze_indexes(op.get_bind(), [without for _, _, without in _TABLES])


def downgrade() -> None:
    for table, with_trace, without in _TABLES:
        op.create_index(with_trace, table, ["key", "value", "trace_id"])
        op.drop_index(without, table_name=table)
    analyze_indexes(op.get_bind(), [with_trace for _, with_trace, _ in _TABLES])
