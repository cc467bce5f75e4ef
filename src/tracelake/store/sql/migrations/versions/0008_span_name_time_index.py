"""The spans' name index gains the span's start time: (experiment_id, name, start_time_ns).

A newest-first search for a span name (`span.name = 'escalate_to_human'`) reads that name's newest
spans from this index and needs only the traces they belong to (`tracelake.query.span_window`),
instead of walking every trace newest first and reading each one's spans. Inserts keep their
locality: spans arrive roughly in time order, so each lands at the end of its name's range, as it
did with the row id after (experiment_id, name). The old index is the new one's prefix, so what
used it (counting a name's spans, metrics by span name) uses the new one.

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-26
"""

from __future__ import annotations

from alembic import op

from tracelake.store.sql.migrate import analyze_indexes

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

_OLD, _OLD_COLUMNS = "ix_spans_experiment_name", ["experiment_id", "name"]
_NEW, _NEW_COLUMNS = "ix_spans_experiment_name_start", ["experiment_id", "name", "start_time_ns"]


def upgrade() -> None:
    op.create_index(_NEW, "spans", _NEW_COLUMNS)
    op.drop_index(_OLD, table_name="spans")
    analyze_indexes(op.get_bind(), [_NEW])


def downgrade() -> None:
    op.create_index(_OLD, "spans", _OLD_COLUMNS)
    op.drop_index(_NEW, table_name="spans")
    analyze_indexes(op.get_bind(), [_OLD])
