"""Payload packs: one object per write holding a member per trace, and the index of those members.

Traces written before this revision keep their per-trace objects (`payload_format` 1) and stay
readable; traces created from now on keep their spans only in packs (`payload_format` 2).

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-26
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "payload_packs",
        sa.Column("pack_id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("location", sa.Text(), nullable=False),
        sa.Column("key", sa.String(200), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("created_time", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("pack_id", name="pk_payload_packs"),
    )
    op.create_table(
        "trace_segments",
        sa.Column("trace_id", sa.String(32), nullable=False),
        sa.Column("pack_id", sa.Integer(), nullable=False),
        sa.Column("byte_offset", sa.BigInteger(), nullable=False),
        sa.Column("byte_length", sa.Integer(), nullable=False),
        sa.Column("span_count", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["trace_id"], ["traces.trace_id"], name="fk_trace_segments_trace_id_traces", ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(["pack_id"], ["payload_packs.pack_id"], name="fk_trace_segments_pack_id_payload_packs"),
        sa.PrimaryKeyConstraint("trace_id", "pack_id", name="pk_trace_segments"),
    )
    op.create_index("ix_trace_segments_pack", "trace_segments", ["pack_id"])
    with op.batch_alter_table("traces") as batch:
        batch.add_column(sa.Column("payload_format", sa.SmallInteger(), nullable=False, server_default="1"))


def downgrade() -> None:
    with op.batch_alter_table("traces") as batch:
        batch.drop_column("payload_format")
    op.drop_index("ix_trace_segments_pack", table_name="trace_segments")
    op.drop_table("trace_segments")
    op.drop_table("payload_packs")
