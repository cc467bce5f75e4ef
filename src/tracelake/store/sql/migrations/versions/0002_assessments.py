"""Assessments: feedback and expectations attached to traces (and optionally to one span).

Revision ID: 0002
Revises: 0001
Create Date: 2025-11-27
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "assessments",
        sa.Column("assessment_id", sa.String(64), nullable=False),
        sa.Column("trace_id", sa.String(32), nullable=False),
        sa.Column("experiment_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(250), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("value", sa.Text(), nullable=True),
        sa.Column("numeric_value", sa.Float(), nullable=True),
        sa.Column("rationale", sa.Text(), nullable=True),
        sa.Column("source_type", sa.String(16), nullable=False),
        sa.Column("source_id", sa.String(250), nullable=False),
        sa.Column("span_id", sa.String(16), nullable=True),
        sa.Column("metadata", sa.Text(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("create_time_ms", sa.BigInteger(), nullable=False),
        sa.Column("last_update_time_ms", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["trace_id"], ["traces.trace_id"], name="fk_assessments_trace_id_traces", ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("assessment_id", name="pk_assessments"),
    )
    op.create_index("ix_assessments_trace_id", "assessments", ["trace_id"])
    op.create_index("ix_assessments_experiment_name_time", "assessments", ["experiment_id", "name", "create_time_ms"])


def downgrade() -> None:
    op.drop_table("assessments")
