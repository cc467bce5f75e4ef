"""Monitoring: Delta archive settings and sync state, and registered scorers with their runs.

`archive_settings` is what a user sets per experiment (where, how often, on or off);
`archive_state` is what the worker writes (lease, next due time, last result). They are separate so
that a worker's frequent writes never race a user's edit of the settings. Leases are rows of
`archive_state` taken with `FOR UPDATE SKIP LOCKED` on PostgreSQL (SQLite's write lock serialises
them). `scorers` and `scorer_runs` belong to the scorers half of `tracelake.monitoring`.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-26
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "archive_settings",
        sa.Column("experiment_id", sa.Integer(), nullable=False),
        sa.Column("location", sa.Text(), nullable=False),
        sa.Column("interval_seconds", sa.Integer(), nullable=False, server_default="900"),
        sa.Column("enabled", sa.SmallInteger(), nullable=False, server_default="1"),
        sa.Column("created_time", sa.BigInteger(), nullable=False),
        sa.Column("updated_time", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["experiment_id"],
            ["experiments.experiment_id"],
            name="fk_archive_settings_experiment_id_experiments",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("experiment_id", name="pk_archive_settings"),
    )
    op.create_table(
        "archive_state",
        sa.Column("experiment_id", sa.Integer(), nullable=False),
        sa.Column("next_sync_time", sa.BigInteger(), nullable=False, server_default="0"),
        sa.Column("lease_owner", sa.String(100), nullable=True),
        sa.Column("lease_expires", sa.BigInteger(), nullable=True),
        sa.Column("watermark_ms", sa.BigInteger(), nullable=True),
        sa.Column("last_sync_time", sa.BigInteger(), nullable=True),
        sa.Column("last_success_time", sa.BigInteger(), nullable=True),
        sa.Column("last_status", sa.String(16), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("last_duration_ms", sa.BigInteger(), nullable=True),
        sa.Column("traces_rows", sa.BigInteger(), nullable=False, server_default="0"),
        sa.Column("spans_rows", sa.BigInteger(), nullable=False, server_default="0"),
        sa.Column("assessments_rows", sa.BigInteger(), nullable=False, server_default="0"),
        sa.Column("last_compact_time", sa.BigInteger(), nullable=True),
        sa.Column("last_vacuum_time", sa.BigInteger(), nullable=True),
        sa.ForeignKeyConstraint(
            ["experiment_id"],
            ["experiments.experiment_id"],
            name="fk_archive_state_experiment_id_experiments",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("experiment_id", name="pk_archive_state"),
    )
    op.create_table(
        "scorers",
        sa.Column("scorer_id", sa.String(64), nullable=False),
        sa.Column("experiment_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(250), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False, server_default="1"),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("definition", sa.Text(), nullable=False),
        sa.Column("sample_rate", sa.Float(), nullable=False, server_default="1.0"),
        sa.Column("filter_string", sa.Text(), nullable=True),
        sa.Column("state", sa.String(16), nullable=False, server_default="active"),
        sa.Column("max_calls_per_hour", sa.Integer(), nullable=True),
        sa.Column("max_cost_per_hour", sa.Float(), nullable=True),
        sa.Column("version_time", sa.BigInteger(), nullable=False),
        sa.Column("created_time", sa.BigInteger(), nullable=False),
        sa.Column("updated_time", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["experiment_id"],
            ["experiments.experiment_id"],
            name="fk_scorers_experiment_id_experiments",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("scorer_id", name="pk_scorers"),
    )
    op.create_index("uq_scorers_experiment_id_name", "scorers", ["experiment_id", "name"], unique=True)
    op.create_table(
        "scorer_runs",
        sa.Column("scorer_id", sa.String(64), nullable=False),
        sa.Column("trace_id", sa.String(32), nullable=False),
        sa.Column("scorer_version", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("next_attempt_time", sa.BigInteger(), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("assessment_id", sa.String(64), nullable=True),
        sa.Column("cost", sa.Float(), nullable=True),
        sa.Column("updated_time", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["scorer_id"], ["scorers.scorer_id"], name="fk_scorer_runs_scorer_id_scorers", ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("scorer_id", "scorer_version", "trace_id", name="pk_scorer_runs"),
    )
    op.create_index("ix_scorer_runs_status_next_attempt", "scorer_runs", ["status", "next_attempt_time"])


def downgrade() -> None:
    op.drop_index("ix_scorer_runs_status_next_attempt", table_name="scorer_runs")
    op.drop_table("scorer_runs")
    op.drop_index("uq_scorers_experiment_id_name", table_name="scorers")
    op.drop_table("scorers")
    op.drop_table("archive_state")
    op.drop_table("archive_settings")
