"""The SQL index: SQLAlchemy Core tables shared by SQLite and PostgreSQL.

Full span payloads are not here: they live as compressed objects under each experiment's
artifact location. The index holds what search, filters, metrics and the UI's tables need.
Changing a table means adding an Alembic migration in `migrations/versions/` (a test compares the
migrated database with these tables).
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Column,
    Float,
    ForeignKey,
    ForeignKeyConstraint,
    Index,
    Integer,
    MetaData,
    SmallInteger,
    String,
    Table,
    Text,
    text,
)

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

experiments = Table(
    "experiments",
    metadata,
    Column("experiment_id", Integer, primary_key=True, autoincrement=True),
    Column("name", String(500), nullable=False),
    Column("artifact_location", Text, nullable=False),
    Column("lifecycle_stage", String(32), nullable=False, server_default="active"),
    Column("creation_time", BigInteger, nullable=False),
    Column("last_update_time", BigInteger, nullable=False),
    # Names are unique among active experiments only: a deleted experiment keeps its name (the UI
    # can still show it) and a new experiment may take that name. Both SQLite and PostgreSQL
    # support partial unique indexes.
    Index(
        "uq_experiments_active_name",
        "name",
        unique=True,
        sqlite_where=text("lifecycle_stage = 'active'"),
        postgresql_where=text("lifecycle_stage = 'active'"),
    ),
)

experiment_tags = Table(
    "experiment_tags",
    metadata,
    Column("experiment_id", Integer, ForeignKey("experiments.experiment_id", ondelete="CASCADE"), primary_key=True),
    Column("key", String(250), primary_key=True),
    Column("value", Text, nullable=False),
)

traces = Table(
    "traces",
    metadata,
    Column("trace_id", String(32), primary_key=True),
    Column(
        "experiment_id",
        Integer,
        ForeignKey("experiments.experiment_id", ondelete="CASCADE"),
        nullable=False,
    ),
    Column("request_time", BigInteger, nullable=False),  # ms since epoch: earliest span start
    Column("end_time", BigInteger, nullable=True),  # ms: latest span end seen
    Column("execution_duration", BigInteger, nullable=True),  # ms: root span duration, once it ended
    Column("state", String(16), nullable=False),  # OK | ERROR | IN_PROGRESS
    Column("name", String(500), nullable=True),  # root span name
    Column("root_span_id", String(16), nullable=True),
    Column("request_preview", Text, nullable=True),
    Column("response_preview", Text, nullable=True),
    Column("client_request_id", String(250), nullable=True),
    Column("session_id", String(250), nullable=True),  # denormalised from metadata for grouping
    Column("user_id", String(250), nullable=True),
    Column("input_tokens", BigInteger, nullable=True),
    Column("output_tokens", BigInteger, nullable=True),
    Column("total_tokens", BigInteger, nullable=True),
    Column("cached_input_tokens", BigInteger, nullable=True),
    Column("reasoning_tokens", BigInteger, nullable=True),
    Column("input_cost", Float, nullable=True),
    Column("output_cost", Float, nullable=True),
    Column("total_cost", Float, nullable=True),
    Column("span_count", Integer, nullable=False, server_default="0"),
    Column("payload_uri", Text, nullable=False),  # where this trace's per-trace objects live (format 1)
    # 1: spans in per-trace objects under payload_uri (and, for spans that came later, in packs);
    # 2: spans only in packs (`trace_segments`). Every trace created since migration 0004 is 2.
    Column("payload_format", SmallInteger, nullable=False, server_default="1"),
    Column("last_update_time", BigInteger, nullable=False),  # ms: for incremental consumers
    Index("ix_traces_experiment_time", "experiment_id", "request_time"),
    Index("ix_traces_experiment_session", "experiment_id", "session_id"),
    # A status filter over a time range reads only the matching traces, newest first (migration 0007).
    Index("ix_traces_experiment_state_time", "experiment_id", "state", "request_time"),
    Index("ix_traces_client_request_id", "client_request_id"),
    Index("ix_traces_last_update", "experiment_id", "last_update_time"),
)

trace_tags = Table(
    "trace_tags",
    metadata,
    Column("trace_id", String(32), ForeignKey("traces.trace_id", ondelete="CASCADE"), primary_key=True),
    Column("key", String(250), primary_key=True),
    Column("value", Text, nullable=False),
    # Not with the trace id: a new trace's rows would land at random places (migration 0009).
    Index("ix_trace_tags_key_value", "key", "value"),
)

trace_metadata = Table(
    "trace_metadata",
    metadata,
    Column("trace_id", String(32), ForeignKey("traces.trace_id", ondelete="CASCADE"), primary_key=True),
    Column("key", String(250), primary_key=True),
    Column("value", Text, nullable=False),
    Index("ix_trace_metadata_key_value", "key", "value"),  # as the tags' (migration 0009)
)

spans = Table(
    "spans",
    metadata,
    Column("trace_id", String(32), ForeignKey("traces.trace_id", ondelete="CASCADE"), primary_key=True),
    Column("span_id", String(16), primary_key=True),
    Column("experiment_id", Integer, nullable=False),
    Column("parent_span_id", String(16), nullable=True),
    Column("name", String(500), nullable=False),
    Column("span_type", String(100), nullable=False),
    Column("status", String(16), nullable=False),  # UNSET | OK | ERROR
    Column("start_time_ns", BigInteger, nullable=False),
    Column("end_time_ns", BigInteger, nullable=True),
    Column("duration_ns", BigInteger, nullable=True),
    Column("model_name", String(250), nullable=True),
    Column("input_tokens", BigInteger, nullable=True),
    Column("output_tokens", BigInteger, nullable=True),
    Column("total_tokens", BigInteger, nullable=True),
    Column("cached_input_tokens", BigInteger, nullable=True),
    Column("reasoning_tokens", BigInteger, nullable=True),
    Column("input_cost", Float, nullable=True),
    Column("output_cost", Float, nullable=True),
    Column("total_cost", Float, nullable=True),
    # 1: this span's usage counts in the trace totals. With every usage column kept per span, a span
    # that is re-sent completed (after an in-progress version) corrects the totals exactly.
    Column("counted", Integer, nullable=False, server_default="0"),
    # With the start time, a name's newest spans come first from the index alone, and newest-first
    # searches for a span name start from them (query/span_window.py, migration 0008). Spans arrive
    # roughly in time order, so inserts land at the end of each name's range. Not with the trace id
    # instead: inserts would land at random places, about 7% of write throughput (migration 0007).
    Index("ix_spans_experiment_name_start", "experiment_id", "name", "start_time_ns"),
    Index("ix_spans_experiment_type_status", "experiment_id", "span_type", "status"),
)

# One object per store write holding a compressed member per trace (see store.artifacts.packs).
payload_packs = Table(
    "payload_packs",
    metadata,
    Column("pack_id", Integer, primary_key=True, autoincrement=True),
    Column("location", Text, nullable=False),  # the artifact location the pack is under
    Column("key", String(200), nullable=False),  # its key there: packs/<time>-<unique>.pack
    Column("size", BigInteger, nullable=False),
    Column("created_time", BigInteger, nullable=False),
)

# Where each trace's spans lie: one member per (trace, pack). A trace's spans are the union of its
# members (and, for payload_format 1, of its per-trace objects).
trace_segments = Table(
    "trace_segments",
    metadata,
    Column("trace_id", String(32), ForeignKey("traces.trace_id", ondelete="CASCADE"), primary_key=True),
    Column("pack_id", Integer, ForeignKey("payload_packs.pack_id"), primary_key=True),
    Column("byte_offset", BigInteger, nullable=False),
    Column("byte_length", Integer, nullable=False),
    Column("span_count", Integer, nullable=False),
    Index("ix_trace_segments_pack", "pack_id"),
)

assessments = Table(
    "assessments",
    metadata,
    Column("assessment_id", String(64), primary_key=True),
    # Feedback lives and dies with its trace: deleting the trace (retention) deletes it.
    Column("trace_id", String(32), ForeignKey("traces.trace_id", ondelete="CASCADE"), nullable=False),
    Column("experiment_id", Integer, nullable=False),  # the trace's, copied for per-experiment metrics
    Column("name", String(250), nullable=False),
    Column("kind", String(16), nullable=False),  # feedback | expectation
    Column("value", Text, nullable=True),  # JSON; NULL for a feedback that carries only an error
    # The value as a number when it is a bool (1.0/0.0) or a number: metrics and filters use it
    # without parsing JSON.
    Column("numeric_value", Float, nullable=True),
    Column("rationale", Text, nullable=True),
    Column("source_type", String(16), nullable=False),  # HUMAN | LLM_JUDGE | CODE
    Column("source_id", String(250), nullable=False),
    Column("span_id", String(16), nullable=True),
    Column("metadata", Text, nullable=True),  # JSON object of str → str
    Column("error", Text, nullable=True),  # JSON {"error_code", "error_message"}
    Column("create_time_ms", BigInteger, nullable=False),
    Column("last_update_time_ms", BigInteger, nullable=False),
    Index("ix_assessments_trace_id", "trace_id"),
    Index("ix_assessments_experiment_name_time", "experiment_id", "name", "create_time_ms"),
)

# The model registry (migration 0003). A registered model is named `catalog.schema.name`; its
# versions are integers 1, 2, ... and each points at a package under the artifact root.
registered_models = Table(
    "registered_models",
    metadata,
    Column("name", String(256), primary_key=True),
    Column("description", Text, nullable=True),
    Column("creation_time", BigInteger, nullable=False),  # ms since epoch
    Column("last_update_time", BigInteger, nullable=False),
)

registered_model_tags = Table(
    "registered_model_tags",
    metadata,
    Column("name", String(256), ForeignKey("registered_models.name", ondelete="CASCADE"), primary_key=True),
    Column("key", String(250), primary_key=True),
    Column("value", Text, nullable=False),
)

model_versions = Table(
    "model_versions",
    metadata,
    Column("name", String(256), ForeignKey("registered_models.name", ondelete="CASCADE"), primary_key=True),
    Column("version", Integer, primary_key=True),
    Column("source", Text, nullable=True),  # where the code came from when it was logged
    Column("artifact_uri", Text, nullable=False),  # the version's package directory
    Column("status", String(20), nullable=False),  # READY (only validated versions are registered)
    Column("status_message", Text, nullable=True),
    Column("description", Text, nullable=True),
    Column("creation_time", BigInteger, nullable=False),
    Column("last_update_time", BigInteger, nullable=False),
)

model_version_tags = Table(
    "model_version_tags",
    metadata,
    Column("name", String(256), primary_key=True),
    Column("version", Integer, primary_key=True),
    Column("key", String(250), primary_key=True),
    Column("value", Text, nullable=False),
    ForeignKeyConstraint(
        ["name", "version"],
        ["model_versions.name", "model_versions.version"],
        name="fk_model_version_tags_name_model_versions",
        ondelete="CASCADE",
    ),
)

registered_model_aliases = Table(
    "registered_model_aliases",
    metadata,
    Column("name", String(256), primary_key=True),
    Column("alias", String(256), primary_key=True),
    Column("version", Integer, nullable=False),
    # Deleting a version deletes the aliases that pointed at it.
    ForeignKeyConstraint(
        ["name", "version"],
        ["model_versions.name", "model_versions.version"],
        name="fk_registered_model_aliases_name_model_versions",
        ondelete="CASCADE",
    ),
)

# Monitoring (migration 0005). The Delta archive: what a user set per experiment, and what the worker
# wrote (its lease, when the next sync is due, the last result). Kept apart so a worker's frequent
# writes never race a user's edit.
archive_settings = Table(
    "archive_settings",
    metadata,
    Column("experiment_id", Integer, ForeignKey("experiments.experiment_id", ondelete="CASCADE"), primary_key=True),
    Column("location", Text, nullable=False),  # local path or s3:// URI of the three Delta tables
    Column("interval_seconds", Integer, nullable=False, server_default="900"),
    Column("enabled", SmallInteger, nullable=False, server_default="1"),
    Column("created_time", BigInteger, nullable=False),
    Column("updated_time", BigInteger, nullable=False),
)

archive_state = Table(
    "archive_state",
    metadata,
    Column("experiment_id", Integer, ForeignKey("experiments.experiment_id", ondelete="CASCADE"), primary_key=True),
    Column("next_sync_time", BigInteger, nullable=False, server_default="0"),  # ms
    Column("lease_owner", String(100), nullable=True),  # the worker syncing now, if any
    Column("lease_expires", BigInteger, nullable=True),  # ms; a crashed worker's lease lapses
    # A copy of the watermark for status only: the Delta commits' transaction ids are the truth.
    Column("watermark_ms", BigInteger, nullable=True),
    Column("last_sync_time", BigInteger, nullable=True),
    Column("last_success_time", BigInteger, nullable=True),
    Column("last_status", String(16), nullable=True),  # ok | error
    Column("last_error", Text, nullable=True),
    Column("last_duration_ms", BigInteger, nullable=True),
    Column("traces_rows", BigInteger, nullable=False, server_default="0"),  # rows written, all syncs
    Column("spans_rows", BigInteger, nullable=False, server_default="0"),
    Column("assessments_rows", BigInteger, nullable=False, server_default="0"),
    Column("last_compact_time", BigInteger, nullable=True),
    Column("last_vacuum_time", BigInteger, nullable=True),
)

# Scorers registered per experiment, and one row per (scorer version, trace) judged or being judged.
scorers = Table(
    "scorers",
    metadata,
    Column("scorer_id", String(64), primary_key=True),
    Column("experiment_id", Integer, ForeignKey("experiments.experiment_id", ondelete="CASCADE"), nullable=False),
    Column("name", String(250), nullable=False),
    Column("version", Integer, nullable=False, server_default="1"),
    Column("kind", String(16), nullable=False),  # builtin | code
    Column("definition", Text, nullable=False),  # JSON: judge class and arguments, or code reference
    Column("sample_rate", Float, nullable=False, server_default="1.0"),
    Column("filter_string", Text, nullable=True),
    Column("state", String(16), nullable=False, server_default="active"),  # active | stopped
    Column("max_calls_per_hour", Integer, nullable=True),
    Column("max_cost_per_hour", Float, nullable=True),
    # When the current version was registered: the worker scores traces that start from then on
    # (older ones are for `tracelake scorers backfill`).
    Column("version_time", BigInteger, nullable=False),
    Column("created_time", BigInteger, nullable=False),
    Column("updated_time", BigInteger, nullable=False),
    Index("uq_scorers_experiment_id_name", "experiment_id", "name", unique=True),
)

scorer_runs = Table(
    "scorer_runs",
    metadata,
    Column("scorer_id", String(64), ForeignKey("scorers.scorer_id", ondelete="CASCADE"), primary_key=True),
    Column("scorer_version", Integer, primary_key=True),
    Column("trace_id", String(32), primary_key=True),
    Column("status", String(16), nullable=False),  # pending | done | error
    Column("attempts", Integer, nullable=False, server_default="0"),
    Column("next_attempt_time", BigInteger, nullable=True),
    Column("last_error", Text, nullable=True),
    Column("assessment_id", String(64), nullable=True),
    Column("cost", Float, nullable=True),  # USD spent on judge calls for this run (budgets)
    Column("updated_time", BigInteger, nullable=False),
    Index("ix_scorer_runs_status_next_attempt", "status", "next_attempt_time"),
)

# Authentication and permissions (migration 0006). Users and service principals share one table of
# principals, so tokens and permissions name either the same way. Secrets are never stored: passwords
# as scrypt hashes, tokens, session ids and client secrets (random, 256 bits) as SHA-256 digests.
auth_principals = Table(
    "auth_principals",
    metadata,
    Column("principal_id", Integer, primary_key=True, autoincrement=True),
    Column("kind", String(32), nullable=False),  # user | service_principal
    Column("name", String(200), nullable=False),  # a username, or a service principal's client id
    Column("display_name", String(200), nullable=True),
    Column("password_hash", Text, nullable=True),  # users: scrypt$N$r$p$salt$hash
    Column("secret_hash", String(64), nullable=True),  # service principals: SHA-256 of the client secret
    Column("is_admin", SmallInteger, nullable=False, server_default="0"),
    Column("owner_id", Integer, nullable=True),  # service principals: the user who created it
    Column("disabled", SmallInteger, nullable=False, server_default="0"),
    Column("created_time", BigInteger, nullable=False),
    Index("uq_auth_principals_name", "name", unique=True),
)

auth_tokens = Table(
    "auth_tokens",
    metadata,
    Column("token_id", Integer, primary_key=True, autoincrement=True),
    Column("principal_id", Integer, ForeignKey("auth_principals.principal_id", ondelete="CASCADE"), nullable=False),
    Column("kind", String(16), nullable=False),  # personal | access (client-credentials)
    Column("name", String(200), nullable=False),
    Column("token_prefix", String(16), nullable=False),  # shown in lists so a user can tell tokens apart
    Column("token_hash", String(64), nullable=False),
    Column("created_time", BigInteger, nullable=False),
    Column("expires_time", BigInteger, nullable=True),
    Column("revoked_time", BigInteger, nullable=True),
    Index("uq_auth_tokens_token_hash", "token_hash", unique=True),
    Index("ix_auth_tokens_principal_id", "principal_id"),
)

auth_sessions = Table(
    "auth_sessions",
    metadata,
    Column("session_hash", String(64), primary_key=True),
    Column("principal_id", Integer, ForeignKey("auth_principals.principal_id", ondelete="CASCADE"), nullable=False),
    Column("csrf_token", String(64), nullable=False),
    Column("created_time", BigInteger, nullable=False),
    Column("expires_time", BigInteger, nullable=False),
    Index("ix_auth_sessions_principal_id", "principal_id"),
)

auth_permissions = Table(
    "auth_permissions",
    metadata,
    Column(
        "principal_id",
        Integer,
        ForeignKey("auth_principals.principal_id", ondelete="CASCADE"),
        primary_key=True,
    ),
    Column("resource_type", String(32), primary_key=True),  # experiment | registered_model
    Column("resource_id", String(500), primary_key=True),  # an experiment id or a model name
    Column("level", String(16), nullable=False),  # CAN_READ | CAN_EDIT | CAN_MANAGE
    Column("granted_by", String(200), nullable=True),
    Column("granted_time", BigInteger, nullable=False),
    Index("ix_auth_permissions_resource_type_resource_id", "resource_type", "resource_id"),
)

auth_audit_log = Table(
    "auth_audit_log",
    metadata,
    Column("event_id", Integer, primary_key=True, autoincrement=True),
    Column("time_ms", BigInteger, nullable=False),
    Column("actor", String(200), nullable=True),  # principal name; None when the server acted
    Column("action", String(64), nullable=False),
    Column("resource_type", String(32), nullable=True),
    Column("resource_id", String(500), nullable=True),
    Column("detail", Text, nullable=True),  # JSON
    Column("request_id", String(128), nullable=True),
    Index("ix_auth_audit_log_time_ms", "time_ms"),
)
