"""Authentication and permissions: principals (users, service principals), tokens, UI sessions,
permissions per experiment and registered model, and the audit log.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-26
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def _principal_fk(table: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        ["principal_id"],
        ["auth_principals.principal_id"],
        name=f"fk_{table}_principal_id_auth_principals",
        ondelete="CASCADE",
    )


def upgrade() -> None:
    op.create_table(
        "auth_principals",
        sa.Column("principal_id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("display_name", sa.String(200), nullable=True),
        sa.Column("password_hash", sa.Text(), nullable=True),
        sa.Column("secret_hash", sa.String(64), nullable=True),
        sa.Column("is_admin", sa.SmallInteger(), nullable=False, server_default="0"),
        sa.Column("owner_id", sa.Integer(), nullable=True),
        sa.Column("disabled", sa.SmallInteger(), nullable=False, server_default="0"),
        sa.Column("created_time", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("principal_id", name="pk_auth_principals"),
    )
    op.create_index("uq_auth_principals_name", "auth_principals", ["name"], unique=True)
    op.create_table(
        "auth_tokens",
        sa.Column("token_id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("principal_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("token_prefix", sa.String(16), nullable=False),
        sa.Column("token_hash", sa.String(64), nullable=False),
        sa.Column("created_time", sa.BigInteger(), nullable=False),
        sa.Column("expires_time", sa.BigInteger(), nullable=True),
        sa.Column("revoked_time", sa.BigInteger(), nullable=True),
        _principal_fk("auth_tokens"),
        sa.PrimaryKeyConstraint("token_id", name="pk_auth_tokens"),
    )
    op.create_index("uq_auth_tokens_token_hash", "auth_tokens", ["token_hash"], unique=True)
    op.create_index("ix_auth_tokens_principal_id", "auth_tokens", ["principal_id"])
    op.create_table(
        "auth_sessions",
        sa.Column("session_hash", sa.String(64), nullable=False),
        sa.Column("principal_id", sa.Integer(), nullable=False),
        sa.Column("csrf_token", sa.String(64), nullable=False),
        sa.Column("created_time", sa.BigInteger(), nullable=False),
        sa.Column("expires_time", sa.BigInteger(), nullable=False),
        _principal_fk("auth_sessions"),
        sa.PrimaryKeyConstraint("session_hash", name="pk_auth_sessions"),
    )
    op.create_index("ix_auth_sessions_principal_id", "auth_sessions", ["principal_id"])
    op.create_table(
        "auth_permissions",
        sa.Column("principal_id", sa.Integer(), nullable=False),
        sa.Column("resource_type", sa.String(32), nullable=False),
        sa.Column("resource_id", sa.String(500), nullable=False),
        sa.Column("level", sa.String(16), nullable=False),
        sa.Column("granted_by", sa.String(200), nullable=True),
        sa.Column("granted_time", sa.BigInteger(), nullable=False),
        _principal_fk("auth_permissions"),
        sa.PrimaryKeyConstraint("principal_id", "resource_type", "resource_id", name="pk_auth_permissions"),
    )
    op.create_index(
        "ix_auth_permissions_resource_type_resource_id", "auth_permissions", ["resource_type", "resource_id"]
    )
    op.create_table(
        "auth_audit_log",
        sa.Column("event_id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("time_ms", sa.BigInteger(), nullable=False),
        sa.Column("actor", sa.String(200), nullable=True),
        sa.Column("action", sa.String(64), nullable=False),
        sa.Column("resource_type", sa.String(32), nullable=True),
        sa.Column("resource_id", sa.String(500), nullable=True),
        sa.Column("detail", sa.Text(), nullable=True),
        sa.Column("request_id", sa.String(128), nullable=True),
        sa.PrimaryKeyConstraint("event_id", name="pk_auth_audit_log"),
    )
    op.create_index("ix_auth_audit_log_time_ms", "auth_audit_log", ["time_ms"])


def downgrade() -> None:
    op.drop_index("ix_auth_audit_log_time_ms", table_name="auth_audit_log")
    op.drop_table("auth_audit_log")
    op.drop_index("ix_auth_permissions_resource_type_resource_id", table_name="auth_permissions")
    op.drop_table("auth_permissions")
    op.drop_index("ix_auth_sessions_principal_id", table_name="auth_sessions")
    op.drop_table("auth_sessions")
    op.drop_index("ix_auth_tokens_principal_id", table_name="auth_tokens")
    op.drop_index("uq_auth_tokens_token_hash", table_name="auth_tokens")
    op.drop_table("auth_tokens")
    op.drop_index("uq_auth_principals_name", table_name="auth_principals")
    op.drop_table("auth_principals")
