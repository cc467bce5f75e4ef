"""`SqlTraceStore`: the `TraceStore` over a SQL index (SQLite or PostgreSQL) and artifact payloads."""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from sqlalchemy import Engine
from sqlalchemy.engine import URL

from tracelake.exceptions import ConflictError, NotFoundError, StoreError
from tracelake.model import Assessment, Experiment, Span, Trace, TraceBatch, TraceData, TraceInfo, WriteResult
from tracelake.store.artifacts import ArtifactRepositories, ArtifactRoots, TracePayloads, check_artifact_location
from tracelake.store.artifacts.packs import PayloadPacks
from tracelake.store.artifacts.payload import encode_spans
from tracelake.store.assessments import AssessmentChanges, check_assessment
from tracelake.store.sql import assessments as asm
from tracelake.store.sql import costs
from tracelake.store.sql import experiments as exp
from tracelake.store.sql import segments as seg
from tracelake.store.sql import traces as tr
from tracelake.store.sql.batches import check_trace_id, merge_batches
from tracelake.store.sql.checkpoint import WalCheckpointer
from tracelake.store.sql.costs import CostRecomputation, PriceFunction
from tracelake.store.sql.engine import create_store_engine, read_connection, write_transaction
from tracelake.store.sql.errors import is_retryable, is_unique_violation, store_errors, translate_errors
from tracelake.store.sql.migrate import upgrade_to_head
from tracelake.store.sql.model_registry import ModelRegistryMethods
from tracelake.store.sql.payload_io import PayloadIO
from tracelake.store.sql.write import WriteOutcome, write_traces

logger = logging.getLogger(__name__)

# PostgreSQL may abort one of two writers of the same traces as a deadlock victim; run it again.
_WRITE_ATTEMPTS = 3
#: Execution option of a statement for `execute_read`: run it without parallel workers.
SERIAL_READ = "tracelake_serial_read"


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


class SqlTraceStore(ModelRegistryMethods):
    """Experiments and traces in a SQL index, span payloads under each experiment's artifact location.

    Opening the store migrates the database to the newest schema. SQLite is the embedded default;
    PostgreSQL serves many server replicas at once.

    Thread contract: every method may be called from any thread. On SQLite, writes are serialised
    by a lock within the process and by SQLite's write lock (`BEGIN IMMEDIATE`) across processes;
    reads run concurrently (WAL). On PostgreSQL, writers of different traces run in parallel and
    writers of one trace serialise on its row lock.

    The model registry (registered agents, versions, aliases) lives in the same database; its
    methods come from `ModelRegistryMethods`.

    Every error raised is a `tracelake.exceptions.StoreError` (or a `ConfigError` for invalid
    `delete_traces` arguments); driver errors are never leaked.
    """

    def __init__(
        self,
        database_url: str | URL,
        default_artifact_root: str,
        allowed_artifact_roots: Sequence[str] | None = None,
    ) -> None:
        """Open (and migrate) the store.

        Args:
            database_url: `sqlite:///path/to/tracelake.db` or `postgresql://user@host/db` (or a
                SQLAlchemy `URL`).
            default_artifact_root: where experiments created without an artifact location keep
                their payloads (`<root>/<experiment_id>`): a local folder, a `file://` URI or an
                `s3://bucket/prefix` URI (S3 settings come from the environment, see docs/storage.md).
            allowed_artifact_roots: further roots inside which an experiment's artifact location may
                be set; the default root is always allowed. Locations outside every root are refused.

        Raises:
            StoreError: the URL or an artifact root is invalid, or the database cannot be migrated.
        """
        self._default_artifact_root = check_artifact_location(default_artifact_root)
        self._artifact_roots = ArtifactRoots([self._default_artifact_root, *(allowed_artifact_roots or ())])
        self._engine = create_store_engine(database_url)
        try:
            upgrade_to_head(self._engine)
        except BaseException:
            self._engine.dispose()
            raise
        self._repositories = ArtifactRepositories()
        self._packs = PayloadPacks(self._repositories)
        is_sqlite = self._engine.dialect.name == "sqlite"
        self._write_lock: contextlib.AbstractContextManager[Any] = (
            threading.Lock() if is_sqlite else contextlib.nullcontext()
        )
        self._checkpointer = WalCheckpointer(self._engine) if is_sqlite else None
        try:
            self.refresh_statistics()
        except StoreError:  # e.g. another process holds the write lock: plans work without them
            logger.debug("could not refresh the query planner's statistics", exc_info=True)
        self._payload_io = PayloadIO(
            self._engine, self._packs, TracePayloads(self._repositories), lambda: self._write_lock
        )

    @property
    def engine(self) -> Engine:
        """The SQLAlchemy engine (for `tracelake.query` and tests; prefer `execute_read`)."""
        return self._engine

    @property
    def dialect_name(self) -> str:
        """`sqlite` or `postgresql`: for callers that compile dialect-specific SQL."""
        return str(self._engine.dialect.name)

    @property
    def default_artifact_root(self) -> str:
        """Where experiments without an explicit artifact location keep their payloads."""
        return self._default_artifact_root

    @property
    def allowed_artifact_roots(self) -> tuple[str, ...]:
        """The roots inside which experiments' artifact locations may be set (the default root first)."""
        return self._artifact_roots.roots

    # Experiments ---------------------------------------------------------------------------------

    @store_errors("create experiment")
    def create_experiment(
        self, name: str, artifact_location: str | None = None, tags: dict[str, str] | None = None
    ) -> Experiment:
        """Create an active experiment; raise `ConflictError` if an active one has that name.

        Raises:
            StoreError: `artifact_location` is invalid or outside the allowed artifact roots.
        """
        if artifact_location is not None:
            artifact_location = self._artifact_roots.check(artifact_location)
        try:
            with self._write_lock, write_transaction(self._engine) as connection:
                experiment_id = exp.insert_experiment(
                    connection, name, artifact_location, self._default_artifact_root, tags, _now_ms()
                )
                return exp.load_experiment(connection, experiment_id)
        except StoreError:
            raise
        except Exception as exc:
            if is_unique_violation(exc):
                raise ConflictError(f"an experiment named {name!r} already exists") from exc
            raise

    @store_errors("get experiment")
    def get_experiment(self, experiment_id: str) -> Experiment:
        """Return the experiment (active or deleted); raise `NotFoundError` if there is none."""
        with read_connection(self._engine) as connection:
            return exp.load_experiment(connection, exp.parse_experiment_id(experiment_id))

    @store_errors("get experiment by name")
    def get_experiment_by_name(self, name: str) -> Experiment | None:
        """Return the active experiment called `name`, or None (deleted experiments are ignored)."""
        with read_connection(self._engine) as connection:
            return exp.find_active_by_name(connection, name)

    def get_or_create_experiment(self, name: str) -> Experiment:
        """Return the active experiment called `name`, creating it if needed.

        Safe when several processes race: the loser of the insert reads the winner's experiment.
        """
        for _ in range(3):
            experiment = self.get_experiment_by_name(name)
            if experiment is not None:
                return experiment
            try:
                return self.create_experiment(name)
            except ConflictError:
                continue  # created by someone else since we looked; look again
        raise StoreError(f"could not get or create the experiment {name!r}: it kept changing")

    @store_errors("list experiments")
    def list_experiments(self, include_deleted: bool = False) -> list[Experiment]:
        """Return the active experiments (and the deleted ones if asked), ordered by id."""
        with read_connection(self._engine) as connection:
            return exp.list_experiments(connection, include_deleted)

    def rename_experiment(self, experiment_id: str, new_name: str) -> Experiment:
        """Rename an active experiment; raise `ConflictError` if another active one has the name."""
        return self._update_active(experiment_id, "rename experiment", name=exp.check_name(new_name))

    def set_artifact_location(self, experiment_id: str, artifact_location: str) -> Experiment:
        """Set where the experiment's *new* traces keep payloads (stored traces stay where they are).

        Raises:
            StoreError: the location is invalid or outside the allowed artifact roots.
        """
        location = self._artifact_roots.check(artifact_location)
        return self._update_active(experiment_id, "set artifact location", artifact_location=location)

    @store_errors("set experiment tag")
    def set_experiment_tag(self, experiment_id: str, key: str, value: str) -> Experiment:
        """Set a tag of an active experiment (overwriting it), e.g. `tracelake.retention_days`.

        Raises:
            NotFoundError: the experiment does not exist or is deleted.
        """
        key_id = exp.parse_experiment_id(experiment_id)
        with self._write_lock, write_transaction(self._engine) as connection:
            exp.require_active(connection, key_id)
            exp.set_tag(connection, key_id, key, value, _now_ms())
            return exp.load_experiment(connection, key_id)

    @store_errors("delete experiment tag")
    def delete_experiment_tag(self, experiment_id: str, key: str) -> Experiment:
        """Delete a tag of an active experiment; `NotFoundError` if the experiment or the tag is missing."""
        key_id = exp.parse_experiment_id(experiment_id)
        with self._write_lock, write_transaction(self._engine) as connection:
            exp.require_active(connection, key_id)
            exp.delete_tag(connection, key_id, key, _now_ms())
            return exp.load_experiment(connection, key_id)

    def delete_experiment(self, experiment_id: str) -> None:
        """Mark an experiment deleted; its traces stay and its name becomes free for a new one."""
        self._set_stage(experiment_id, exp.DELETED)

    def restore_experiment(self, experiment_id: str) -> None:
        """Make a deleted experiment active again; `ConflictError` if its name was taken since."""
        self._set_stage(experiment_id, exp.ACTIVE)

    def _update_active(self, experiment_id: str, action: str, **values: Any) -> Experiment:
        with translate_errors(action):
            key = exp.parse_experiment_id(experiment_id)
            try:
                with self._write_lock, write_transaction(self._engine) as connection:
                    exp.require_active(connection, key)
                    exp.update_experiment(connection, key, _now_ms(), **values)
                    return exp.load_experiment(connection, key)
            except Exception as exc:
                if is_unique_violation(exc):
                    raise ConflictError(f"an active experiment named {values.get('name')!r} exists") from exc
                raise

    def _set_stage(self, experiment_id: str, stage: str) -> None:
        with translate_errors(f"set experiment {experiment_id!r} {stage}"):
            key = exp.parse_experiment_id(experiment_id)
            try:
                with self._write_lock, write_transaction(self._engine) as connection:
                    exp.update_experiment(connection, key, _now_ms(), lifecycle_stage=stage)
            except Exception as exc:
                if is_unique_violation(exc):
                    raise ConflictError(f"experiment {experiment_id!r}: an active experiment has its name") from exc
                raise

    # Traces --------------------------------------------------------------------------------------

    @store_errors("write traces")
    def write_batches(self, experiment_id: str, batches: Sequence[TraceBatch]) -> WriteResult:
        """Merge batches of spans into the experiment's traces, in one transaction.

        Idempotent by (trace id, span id): spans already stored are counted as duplicates and change
        nothing, except that a finished span replaces its stored in-progress version. A trace id
        already stored under another experiment stays there. When this returns, the spans are
        committed and readable; if it raises, nothing of the call is visible.

        Raises:
            NotFoundError: the experiment does not exist or is deleted.
            StoreError: an id is invalid, or the database or payload storage failed.
        """
        incoming = merge_batches(batches)
        key = exp.parse_experiment_id(experiment_id)
        if not incoming:
            return WriteResult()
        # Encoded before the write lock, which is what bounds SQLite's ingest: most traces are new,
        # and a new trace's payload is exactly its incoming spans.
        encoded = {trace_id: encode_spans(trace.spans.values()) for trace_id, trace in incoming.items()}
        for attempt in range(1, _WRITE_ATTEMPTS + 1):
            outcome = WriteOutcome()
            try:
                with self._write_lock, write_transaction(self._engine) as connection:
                    experiment = exp.require_active(connection, key, with_tags=False)
                    write_traces(connection, experiment, incoming, self._packs, _now_ms(), outcome, encoded)
            except BaseException as exc:
                # Nothing was acknowledged: the pack would only be an orphan.
                self._payload_io.delete_packs_after_commit(outcome.packs)
                if attempt < _WRITE_ATTEMPTS and is_retryable(exc):
                    continue
                raise
            break
        # After the commit: a crash in between leaves an unreferenced pack (swept later), never an
        # index row whose spans are gone.
        self._payload_io.delete_packs_after_commit(outcome.released)
        if self._checkpointer is not None:
            self._checkpointer.notify()
        return WriteResult(outcome.written_spans, outcome.duplicate_spans, len(incoming))

    @store_errors("get trace info")
    def get_trace_info(self, trace_id: str) -> TraceInfo:
        """Return a trace's summary with tags, metadata and assessments; raise `NotFoundError` if missing."""
        with read_connection(self._engine) as connection:
            info = tr.load_trace_infos(connection, [trace_id]).get(trace_id)
            if info is None:
                raise NotFoundError(f"no trace with id {trace_id!r}")
            return asm.with_assessments(info, asm.load_for_traces(connection, [trace_id]))

    @store_errors("get trace infos")
    def get_trace_infos(self, trace_ids: Sequence[str]) -> list[TraceInfo]:
        """Return the summaries of the given traces in the given order, skipping missing ones."""
        with read_connection(self._engine) as connection:
            infos = tr.load_trace_infos(connection, trace_ids)
        return [infos[trace_id] for trace_id in trace_ids if trace_id in infos]

    @store_errors("get spans")
    def get_spans(self, trace_id: str) -> list[Span]:
        """Return a trace's spans by start time, parents before children; `NotFoundError` if missing."""
        spans = self._payload_io.read_spans([trace_id]).get(trace_id)
        if spans is None:
            raise NotFoundError(f"no trace with id {trace_id!r}")
        return spans

    @store_errors("get spans")
    def get_spans_of(self, trace_ids: Sequence[str]) -> dict[str, list[Span]]:
        """Return the spans of several traces at once (missing traces are left out).

        Cheaper than `get_spans` per trace: traces written together share their payload packs,
        which are then opened once.
        """
        return self._payload_io.read_spans(trace_ids)

    @store_errors("get spans")
    def get_span_dicts_of(self, trace_ids: Sequence[str]) -> dict[str, list[dict[str, Any]]]:
        """Like `get_spans_of`, with each span as its stored dict (`Span.to_dict()` form).

        For bulk readers that turn spans into rows or JSON anyway (the Delta archive): no `Span`
        objects are built, which is most of the cost of reading.
        """
        return self._payload_io.read_span_dicts(trace_ids)

    @store_errors("get spans")
    def get_span_texts_of(self, trace_ids: Sequence[str]) -> dict[str, tuple[bytes, ...]]:
        """Like `get_span_dicts_of`, each trace's spans as the stored JSON texts, unparsed and unmerged.

        For the Delta archive, which parses them trace by trace (see `PayloadIO.read_span_texts`).
        """
        return self._payload_io.read_span_texts(trace_ids)

    @store_errors("refresh statistics")
    def refresh_statistics(self) -> None:
        """Give SQLite's query planner fresh table statistics (a bounded `ANALYZE`, a few ms at any size).

        Without statistics SQLite cannot tell a rare value from a common one: a lookup of one user's
        traces among a million walked them all (1.3 s) instead of using the index (0.1 ms). Run when
        the store opens and on every retention pass. PostgreSQL's autovacuum keeps its own.
        """
        if self._engine.dialect.name != "sqlite":
            return
        with self._write_lock, write_transaction(self._engine) as connection:
            # Sample at most this many index entries per index: statistics, not a full scan.
            connection.exec_driver_sql("PRAGMA analysis_limit = 1000")
            connection.exec_driver_sql("ANALYZE")

    @store_errors("sweep orphan packs")
    def sweep_orphan_packs(self, min_age_s: float = 3600.0) -> int:
        """Delete payload packs that no index row refers to, older than `min_age_s`; return how many.

        Such packs are left only by a crash between a write's pack and its commit.
        """
        return self._payload_io.sweep_orphans(min_age_s)

    def get_trace(self, trace_id: str) -> Trace:
        """Return a trace's summary and spans; raise `NotFoundError` if it does not exist."""
        return Trace(info=self.get_trace_info(trace_id), data=TraceData(spans=self.get_spans(trace_id)))

    @store_errors("recompute costs")
    def recompute_costs(
        self, experiment_id: str, price: PriceFunction, since_ms: int | None = None
    ) -> CostRecomputation:
        """Price the experiment's stored LLM spans again and update their costs and the trace totals.

        See `tracelake.store.sql.costs`: index rows and payloads both get the new costs; running it
        again completes an interrupted run and changes nothing otherwise.

        Args:
            experiment_id: the experiment.
            price: the new cost of a stored span (None: no cost); `tracelake.ingest.reprice_span`.
            since_ms: only traces that started at or after this time (Unix ms).

        Raises:
            NotFoundError: the experiment does not exist.
        """
        key = exp.parse_experiment_id(experiment_id)
        with read_connection(self._engine) as connection:
            experiment = exp.load_experiment(connection, key)
        return costs.recompute(
            self._engine, self._packs, self._payload_io, lambda: self._write_lock, experiment, price, since_ms
        )

    @store_errors("set trace tag")
    def set_trace_tag(self, trace_id: str, key: str, value: str) -> None:
        """Set a tag on a trace (overwriting); raise `NotFoundError` if the trace does not exist."""
        with self._write_lock, write_transaction(self._engine) as connection:
            tr.set_tag(connection, trace_id, key, value, _now_ms())

    @store_errors("delete trace tag")
    def delete_trace_tag(self, trace_id: str, key: str) -> None:
        """Delete a tag of a trace; raise `NotFoundError` if the trace or the tag does not exist."""
        with self._write_lock, write_transaction(self._engine) as connection:
            tr.delete_tag(connection, trace_id, key, _now_ms())

    @store_errors("delete traces")
    def delete_traces(
        self,
        experiment_id: str,
        max_timestamp_ms: int | None = None,
        max_traces: int | None = None,
        trace_ids: Sequence[str] | None = None,
    ) -> int:
        """Delete traces of an experiment with their payloads; return how many were deleted.

        Follows MLflow: give `max_timestamp_ms` (traces that started at or before it, oldest first,
        at most `max_traces` of them) or `trace_ids` (those of them in the experiment), not both.

        Raises:
            ConfigError: the arguments break those rules.
            NotFoundError: the experiment does not exist.
        """
        tr.check_delete_arguments(max_timestamp_ms, max_traces, trace_ids)
        if trace_ids is not None:
            for trace_id in trace_ids:
                check_trace_id(trace_id)
        key = exp.parse_experiment_id(experiment_id)
        with self._write_lock, write_transaction(self._engine) as connection:
            exp.load_experiment(connection, key)
            doomed = tr.select_for_deletion(connection, key, max_timestamp_ms, max_traces, trace_ids)
            doomed_ids = [trace_id for trace_id, _, _ in doomed]
            pack_ids = seg.pack_ids_of(connection, doomed_ids)
            tr.delete_rows(connection, doomed_ids)  # their segment rows go with them (ON DELETE CASCADE)
            released = seg.release_packs(connection, pack_ids)
        # Payloads go after the commit: a crash in between leaves unreachable objects, never an index
        # row whose spans are gone. A pack still holding members of live traces stays.
        self._payload_io.delete_packs_after_commit(released)
        self._payload_io.delete_legacy_objects([uri for _, uri, legacy in doomed if legacy])
        return len(doomed)

    # Assessments ---------------------------------------------------------------------------------

    @store_errors("add assessment")
    def add_assessment(self, assessment: Assessment) -> Assessment:
        """Store a feedback or expectation on its trace; return it as stored (with its experiment id).

        Raises:
            NotFoundError: the trace does not exist.
            ConfigError: the assessment breaks a rule (see `tracelake.store.assessments`), or its
                `span_id` is not a span of the trace.
            ConflictError: an assessment with this id exists.
        """
        check_assessment(assessment)
        with self._write_lock, write_transaction(self._engine) as connection:
            experiment_id = asm.touch_trace(connection, assessment.trace_id, _now_ms())
            if assessment.span_id is not None:
                asm.require_span(connection, assessment.trace_id, assessment.span_id)
            try:
                asm.insert(connection, asm.assessment_row(assessment, experiment_id))
            except Exception as exc:
                if is_unique_violation(exc):
                    raise ConflictError(f"an assessment with id {assessment.assessment_id!r} exists") from exc
                raise
        return replace(assessment, experiment_id=str(experiment_id))

    @store_errors("get assessment")
    def get_assessment(self, trace_id: str, assessment_id: str) -> Assessment:
        """Return one assessment of a trace; `NotFoundError` if the trace or the assessment is missing."""
        with read_connection(self._engine) as connection:
            return asm.load(connection, trace_id, assessment_id)

    @store_errors("update assessment")
    def update_assessment(self, trace_id: str, assessment_id: str, changes: AssessmentChanges) -> Assessment:
        """Change fields of an assessment, atomically, and bump its `last_update_time_ms`.

        Args:
            trace_id: the trace of the assessment.
            assessment_id: the assessment.
            changes: the fields to set (value, rationale, metadata, error, source); others stay.

        Raises:
            NotFoundError: the trace or the assessment is missing.
            ConfigError: the result would break a rule (e.g. an expectation with an error).
        """
        with self._write_lock, write_transaction(self._engine) as connection:
            now = _now_ms()
            asm.touch_trace(connection, trace_id, now)
            current = asm.load(connection, trace_id, assessment_id)
            updated = replace(current, **changes, last_update_time_ms=max(now, current.create_time_ms))
            check_assessment(updated)
            asm.change(connection, trace_id, assessment_id, asm.mutable_values(updated))
        return updated

    @store_errors("delete assessment")
    def delete_assessment(self, trace_id: str, assessment_id: str) -> None:
        """Delete one assessment; `NotFoundError` if the trace or the assessment is missing."""
        with self._write_lock, write_transaction(self._engine) as connection:
            asm.touch_trace(connection, trace_id, _now_ms())
            asm.remove(connection, trace_id, assessment_id)

    @store_errors("list assessments")
    def list_assessments(self, trace_id: str) -> list[Assessment]:
        """Return a trace's assessments, oldest first; `NotFoundError` if the trace is missing."""
        with read_connection(self._engine) as connection:
            tr.payload_uri_of(connection, trace_id)  # raises NotFoundError for a missing trace
            return asm.load_for_traces(connection, [trace_id]).get(trace_id, [])

    @store_errors("find trace by client request id")
    def find_trace_by_client_request_id(self, experiment_id: str, client_request_id: str) -> TraceInfo | None:
        """Return the most recent trace of the experiment with this client request id (with its assessments).

        Returns None if the experiment has no such trace.

        Raises:
            NotFoundError: the experiment does not exist.
        """
        key = exp.parse_experiment_id(experiment_id)
        with read_connection(self._engine) as connection:
            exp.load_experiment(connection, key)
            trace_id = asm.latest_trace_id_by_client_request_id(connection, key, client_request_id)
            if trace_id is None:
                return None
            info = tr.load_trace_infos(connection, [trace_id])[trace_id]
            return asm.with_assessments(info, asm.load_for_traces(connection, [trace_id]))

    # Reads for tracelake.query -------------------------------------------------------------------

    @store_errors("run query")
    def execute_read(self, statement: Any) -> list[Any]:
        """Run a SQLAlchemy Core SELECT built by `tracelake.query` and return its rows.

        A statement with the execution option `SERIAL_READ` runs without parallel workers on
        PostgreSQL: a search page stops after a few rows, and parallel workers would each walk an
        index to the end of their share first (three times the work).
        """
        with read_connection(self._engine) as connection:
            if connection.dialect.name == "postgresql" and statement.get_execution_options().get(SERIAL_READ):
                connection.exec_driver_sql("SET LOCAL max_parallel_workers_per_gather = 0")
            return list(connection.execute(statement).all())

    def close(self) -> None:
        """Close every pooled connection. The store must not be used afterwards."""
        if self._checkpointer is not None:
            self._checkpointer.close()
        self._engine.dispose()
        self._repositories.close()

    def __enter__(self) -> SqlTraceStore:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"SqlTraceStore({self._engine.url.render_as_string(hide_password=True)!r})"


if TYPE_CHECKING:
    from tracelake.store.base import ModelRegistryStore, TraceStore

    # mypy proves here that SqlTraceStore satisfies the protocols.
    _conforms: type[TraceStore] = SqlTraceStore
    _conforms_registry: type[ModelRegistryStore] = SqlTraceStore
