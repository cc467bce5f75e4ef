"""The initial SQL index: experiments, traces, their tags and metadata, and the span index.

Written out in full rather than generated from `schema.py` at run time, so that this revision
stays what it was when later revisions change the tables.

Revision ID: 0001
Revises:
Create Date: 2025-11-26
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

_ACTIVE = sa.text("lifecycle_stage = 'active'")


def upgrade() -> None:
    op.create_table(
        "experiments",
        sa.Column("experiment_id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("name", sa.String(500), nullable=False),
        sa.Column("artifact_location", sa.Text(), nullable=False),
        sa.Column("lifecycle_stage", sa.String(32), server_default="active", nullable=False),
        sa.Column("creation_time", sa.BigInteger(), nullable=False),
        sa.Column("last_update_time", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("experiment_id", name="pk_experiments"),
    )
    op.create_index(
        "uq_experiments_active_name",
        "experiments",
        ["name"],
        unique=True,
        sqlite_where=_ACTIVE,
        postgresql_where=_ACTIVE,
    )
    op.create_table(
        "experiment_tags",
        sa.Column("experiment_id", sa.Integer(), nullable=False),
        sa.Column("key", sa.String(250), nullable=False),
        sa.Column("value", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["experiment_id"],
            ["experiments.experiment_id"],
            name="fk_experiment_tags_experiment_id_experiments",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("experiment_id", "key", name="pk_experiment_tags"),
    )
    op.create_table(
        "traces",
        sa.Column("trace_id", sa.String(32), nullable=False),
        sa.Column("experiment_id", sa.Integer(), nullable=False),
        sa.Column("request_time", sa.BigInteger(), nullable=False),
        sa.Column("end_time", sa.BigInteger(), nullable=True),
        sa.Column("execution_duration", sa.BigInteger(), nullable=True),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("name", sa.String(500), nullable=True),
        sa.Column("root_span_id", sa.String(16), nullable=True),
        sa.Column("request_preview", sa.Text(), nullable=True),
        sa.Column("response_preview", sa.Text(), nullable=True),
        sa.Column("client_request_id", sa.String(250), nullable=True),
        sa.Column("session_id", sa.String(250), nullable=True),
        sa.Column("user_id", sa.String(250), nullable=True),
        sa.Column("input_tokens", sa.BigInteger(), nullable=True),
        sa.Column("output_tokens", sa.BigInteger(), nullable=True),
        sa.Column("total_tokens", sa.BigInteger(), nullable=True),
        sa.Column("cached_input_tokens", sa.BigInteger(), nullable=True),
        sa.Column("reasoning_tokens", sa.BigInteger(), nullable=True),
        sa.Column("input_cost", sa.Float(), nullable=True),
        sa.Column("output_cost", sa.Float(), nullable=True),
        sa.Column("total_cost", sa.Float(), nullable=True),
        sa.Column("span_count", sa.Integer(), server_default="0", nullable=False),
        sa.Column("payload_uri", sa.Text(), nullable=False),
        sa.Column("last_update_time", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["experiment_id"],
            ["experiments.experiment_id"],
            name="fk_traces_experiment_id_experiments",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("trace_id", name="pk_traces"),
    )
    op.create_index("ix_traces_experiment_time", "traces", ["experiment_id", "request_time"])
    op.create_index("ix_traces_experiment_session", "traces", ["experiment_id", "session_id"])
    op.create_index("ix_traces_experiment_state", "traces", ["experiment_id", "state"])
    op.create_index("ix_traces_client_request_id", "traces", ["client_request_id"])
    op.create_index("ix_traces_last_update", "traces", ["experiment_id", "last_update_time"])
    for table in ("trace_tags", "trace_metadata"):
        op.create_table(
            table,
            sa.Column("trace_id", sa.String(32), nullable=False),
            sa.Column("key", sa.String(250), nullable=False),
            sa.Column("value", sa.Text(), nullable=False),
            sa.ForeignKeyConstraint(
                ["trace_id"], ["traces.trace_id"], name=f"fk_{table}_trace_id_traces", ondelete="CASCADE"
            ),
            sa.PrimaryKeyConstraint("trace_id", "key", name=f"pk_{table}"),
        )
        op.create_index(f"ix_{table}_key_value", table, ["key", "value"])
    op.create_table(
        "spans",
        sa.Column("trace_id", sa.String(32), nullable=False),
        sa.Column("span_id", sa.String(16), nullable=False),
        sa.Column("experiment_id", sa.Integer(), nullable=False),
        sa.Column("parent_span_id", sa.String(16), nullable=True),
        sa.Column("name", sa.String(500), nullable=False),
        sa.Column("span_type", sa.String(100), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("start_time_ns", sa.BigInteger(), nullable=False),
        sa.Column("end_time_ns", sa.BigInteger(), nullable=True),
        sa.Column("duration_ns", sa.BigInteger(), nullable=True),
        sa.Column("model_name", sa.String(250), nullable=True),
        sa.Column("input_tokens", sa.BigInteger(), nullable=True),
        sa.Column("output_tokens", sa.BigInteger(), nullable=True),
        sa.Column("total_tokens", sa.BigInteger(), nullable=True),
        sa.Column("cached_input_tokens", sa.BigInteger(), nullable=True),
        sa.Column("reasoning_tokens", sa.BigInteger(), nullable=True),
        sa.Column("input_cost", sa.Float(), nullable=True),
        sa.Column("output_cost", sa.Float(), nullable=True),
        sa.Column("total_cost", sa.Float(), nullable=True),
        sa.Column("counted", sa.Integer(), server_default="0", nullable=False),
        sa.ForeignKeyConstraint(["trace_id"], ["traces.trace_id"], name="fk_spans_trace_id_traces", ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("trace_id", "span_id", name="pk_spans"),
    )
    op.create_index("ix_spans_experiment_name", "spans", ["experiment_id", "name"])
    op.create_index("ix_spans_experiment_type_status", "spans", ["experiment_id", "span_type", "status"])


def downgrade() -> None:
    for table in ("spans", "trace_metadata", "trace_tags", "traces", "experiment_tags", "experiments"):
        op.drop_table(table)
