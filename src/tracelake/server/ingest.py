"""OTLP ingest behind the HTTP door: admission (backpressure), experiment resolution, the write.

The experiment receiving a request's spans is, in order (docs/rest-api.md, "OTLP"):

1. header `x-tracelake-experiment-id`, or `x-tracelake-experiment-name` (created if missing);
2. header `x-mlflow-experiment-id` (MLflow's OTLP export sends it);
3. resource attribute `tracelake.experiment_id` or `tracelake.experiment.name` (per resource);
4. the experiment named `Default`.

Every experiment a request names is resolved before anything is written, so an unknown one fails
the whole request (404) and writes nothing.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

import anyio

from tracelake.exceptions import NotFoundError
from tracelake.ingest import write_spans
from tracelake.ingest.otlp import DecodedTraces
from tracelake.model import SpanRecord
from tracelake.server.errors import ApiError
from tracelake.store import SqlTraceStore
from tracelake.store.sql.rows import NAME_MAX

__all__ = [
    "DEFAULT_EXPERIMENT",
    "EXPERIMENT_ID_HEADER",
    "EXPERIMENT_ID_RESOURCE",
    "EXPERIMENT_NAME_HEADER",
    "EXPERIMENT_NAME_RESOURCE",
    "MLFLOW_EXPERIMENT_HEADER",
    "ExperimentResolver",
    "ExperimentTarget",
    "IngestGate",
    "IngestResult",
    "target_from_headers",
    "write_decoded",
]

EXPERIMENT_ID_HEADER: Final = "x-tracelake-experiment-id"
EXPERIMENT_NAME_HEADER: Final = "x-tracelake-experiment-name"
MLFLOW_EXPERIMENT_HEADER: Final = "x-mlflow-experiment-id"
EXPERIMENT_ID_RESOURCE: Final = "tracelake.experiment_id"
EXPERIMENT_NAME_RESOURCE: Final = "tracelake.experiment.name"
DEFAULT_EXPERIMENT: Final = "Default"


@dataclass(frozen=True, slots=True)
class ExperimentTarget:
    """An experiment as a request names it: by id, or by name (created if missing)."""

    experiment_id: str | None = None
    name: str | None = None

    def __post_init__(self) -> None:
        if self.experiment_id is not None and not (self.experiment_id.isascii() and self.experiment_id.isdigit()):
            raise ApiError(400, f"experiment id {self.experiment_id!r} is invalid: ids are numbers, e.g. '1'")
        if self.name is not None and len(self.name) > NAME_MAX:
            raise ApiError(400, f"experiment name is too long: at most {NAME_MAX} characters")


def _given(value: Any) -> str | None:
    if value is None:
        return None
    text = str(value).strip()
    return text or None


def target_from_headers(headers: Mapping[str, str]) -> ExperimentTarget | None:
    """Return the experiment the request's headers name, if any (the id wins over the name)."""
    experiment_id = _given(headers.get(EXPERIMENT_ID_HEADER))
    if experiment_id is not None:
        return ExperimentTarget(experiment_id=experiment_id)
    name = _given(headers.get(EXPERIMENT_NAME_HEADER))
    if name is not None:
        return ExperimentTarget(name=name)
    mlflow_id = _given(headers.get(MLFLOW_EXPERIMENT_HEADER))
    return None if mlflow_id is None else ExperimentTarget(experiment_id=mlflow_id)


def target_from_resource(resource: Mapping[str, Any]) -> ExperimentTarget:
    """Return the experiment a resource names, or the default experiment."""
    experiment_id = _given(resource.get(EXPERIMENT_ID_RESOURCE))
    if experiment_id is not None:
        return ExperimentTarget(experiment_id=experiment_id)
    return ExperimentTarget(name=_given(resource.get(EXPERIMENT_NAME_RESOURCE)) or DEFAULT_EXPERIMENT)


def resolve(store: SqlTraceStore, target: ExperimentTarget) -> str:
    """Return the id of the active experiment `target` names, creating a named one if missing.

    Raises:
        NotFoundError: the id names no experiment, or a deleted one.
    """
    if target.experiment_id is not None:
        experiment = store.get_experiment(target.experiment_id)
        if experiment.lifecycle_stage != "active":
            raise NotFoundError(f"experiment {target.experiment_id!r} is deleted")
        return experiment.experiment_id
    return store.get_or_create_experiment(target.name or DEFAULT_EXPERIMENT).experiment_id


class ExperimentResolver:
    """Resolves requests' experiment targets, remembering each answer for `ttl_s` seconds.

    Exporters send every batch with the same header, and resolving it costs a read or two per
    request (a tenth of a small batch's ingest). What is remembered is only a hint: the write
    checks, in its transaction, that the experiment is still active, and a write that finds it
    deleted resolves the target afresh (`forget`). A renamed experiment keeps receiving batches
    sent to its old name for at most `ttl_s`.
    """

    def __init__(self, ttl_s: float = 5.0) -> None:
        self.ttl_s = ttl_s
        self._known: dict[ExperimentTarget, tuple[str, float]] = {}

    def resolve(self, store: SqlTraceStore, target: ExperimentTarget) -> str:
        """Return the experiment id of `target` (see `resolve`). Thread-safe: races only repeat work."""
        now = time.monotonic()
        known = self._known.get(target)
        if known is not None and known[1] > now:
            return known[0]
        experiment_id = resolve(store, target)
        if len(self._known) >= _RESOLVER_MAX:
            self._known.clear()  # targets come off the wire: bounded, however many are named
        self._known[target] = (experiment_id, now + self.ttl_s)
        return experiment_id

    def forget(self, target: ExperimentTarget) -> None:
        """Drop what is remembered of `target`."""
        self._known.pop(target, None)

    def clear(self) -> None:
        """Drop everything (the store changed)."""
        self._known.clear()


_RESOLVER_MAX: Final = 1024


@dataclass(frozen=True, slots=True)
class IngestResult:
    """What one request stored."""

    accepted: int
    rejected: int
    written: int
    duplicates: int


def write_decoded(
    store: SqlTraceStore,
    decoded: DecodedTraces,
    target: ExperimentTarget | None,
    resolver: ExperimentResolver | None = None,
) -> IngestResult:
    """Write a decoded request's accepted spans into their experiments. Blocking: call off the event loop.

    Args:
        store: where the spans go.
        decoded: the request, decoded.
        target: the experiment its headers name; None: each resource's (or the default).
        resolver: remembers experiment targets between requests; None resolves each one afresh.

    Raises:
        NotFoundError: an experiment id names no active experiment (nothing was written).
        StoreError: the store failed; spans of other experiments may already be written, which is
            harmless since a retried request stores each span once.
    """
    # A header naming an unknown experiment fails even an empty request: the sender is misconfigured.
    by_target: dict[ExperimentTarget, list[SpanRecord]] = {} if target is None else {target: []}
    for group in decoded.groups:
        key = target or target_from_resource(group.resource)
        by_target.setdefault(key, []).extend(group.records)
    try:
        return _write_by_experiment(store, decoded, by_target, resolver)
    except NotFoundError:
        if resolver is None:
            raise
        # A remembered experiment was deleted since: resolve every target afresh (a name creates
        # a new experiment; an id now fails with 404). Spans already written are stored once.
        for key in by_target:
            resolver.forget(key)
        return _write_by_experiment(store, decoded, by_target, resolver)


def _write_by_experiment(
    store: SqlTraceStore,
    decoded: DecodedTraces,
    by_target: Mapping[ExperimentTarget, list[SpanRecord]],
    resolver: ExperimentResolver | None,
) -> IngestResult:
    experiment_ids = {
        key: resolve(store, key) if resolver is None else resolver.resolve(store, key) for key in by_target
    }
    by_experiment: dict[str, list[SpanRecord]] = {}
    for key, records in by_target.items():
        by_experiment.setdefault(experiment_ids[key], []).extend(records)
    written = duplicates = 0
    for experiment_id, records in by_experiment.items():
        result = write_spans(store, experiment_id, records)
        written += result.written_spans
        duplicates += result.duplicate_spans
    return IngestResult(decoded.accepted_count, len(decoded.rejected), written, duplicates)


class IngestGate:
    """Bounds the OTLP requests in progress, so memory stays bounded when senders outrun the store.

    Entered before the body is read and left when the spans are written; a request that finds it
    full is answered 429 at once. Used only from the event loop's thread, so it needs no lock.
    Of the requests admitted, `working` lets `concurrency` at a time decode and write (set once the
    store is open: it depends on the database); the others wait for a turn.
    """

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.in_flight = 0
        self.concurrency = 1
        self.working = anyio.Semaphore(1)  # until `set_concurrency`

    def set_concurrency(self, concurrency: int) -> None:
        """How many admitted requests decode and write at once (call before serving)."""
        self.concurrency = concurrency
        self.working = anyio.Semaphore(concurrency)

    @property
    def waiting(self) -> int:
        """Admitted requests beyond those that may work at once: they wait for a turn."""
        return max(0, self.in_flight - self.concurrency)

    def try_enter(self) -> bool:
        """Take a place if one is free; return whether it did."""
        if self.in_flight >= self.limit:
            return False
        self.in_flight += 1
        return True

    def leave(self) -> None:
        """Give back a place taken by `try_enter`."""
        self.in_flight -= 1
