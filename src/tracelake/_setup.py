"""Composition root of the SDK: turns settings into a destination and a backend.

The only SDK-side module that reaches `ingest`, `store` and the client, and only inside functions,
so that `import tracelake` never loads SQLAlchemy or httpx.

Destinations:
- a folder (default `./tracelake-data`), `sqlite:///…`, `postgresql://…`: spans are written by the
  embedded sink through `ingest` into a `SqlTraceStore`; reads go to a `StoreBackend`.
- `http(s)://…`: a tracelake server; `tracelake._remote` provides the OTLP sink and the client backend.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tracelake import _config
from tracelake.exceptions import ConfigError
from tracelake.model import Experiment, SpanRecord
from tracelake.tracing import RUNTIME, ExperimentRef, SpanSink
from tracelake.tracing._ids import Clock, IdGenerator
from tracelake.tracing.export._sink import BackgroundWrites

if TYPE_CHECKING:
    from tracelake._backend import Backend
    from tracelake.store import TraceStore

DEFAULT_EXPERIMENT = "Default"


@dataclass(frozen=True)
class Destination:
    """Where traces go: a SQL store (`database_url` + `artifact_root`) or a server (`server_url`)."""

    database_url: str | None = None
    artifact_root: str | None = None
    server_url: str | None = None

    @property
    def is_remote(self) -> bool:
        return self.server_url is not None


def resolve_destination(tracking_uri: str | None, home: str) -> Destination:
    """Return the destination a tracking URI names, or raise ConfigError naming the variable."""
    if tracking_uri is None or tracking_uri.startswith("file://") or "://" not in tracking_uri:
        folder = home if tracking_uri is None else tracking_uri.removeprefix("file://")
        root = Path(folder).expanduser().resolve()
        return Destination(f"sqlite:///{root / 'tracelake.db'}", str(root / "artifacts"))
    scheme = tracking_uri.split("://", 1)[0].lower()
    if scheme.startswith(("sqlite", "postgresql", "postgres")):
        return Destination(tracking_uri, str(Path(home).expanduser().resolve() / "artifacts"))
    if scheme in ("http", "https"):
        return Destination(server_url=tracking_uri.rstrip("/"))
    raise ConfigError(
        f"TRACELAKE_TRACKING_URI={tracking_uri!r} is invalid: expected a folder path, sqlite:///…, "
        "postgresql://… or http(s)://… of a tracelake server"
    )


_lock = threading.Lock()
_destination: Destination | None = None
_store: TraceStore | None = None
_backend: Backend | None = None


def get_backend() -> Backend:
    """Return the backend of the configured destination (configuring from the environment if needed)."""
    global _backend
    RUNTIME.ensure_configured()
    with _lock:
        if _backend is None:
            destination = _require_destination()
            if destination.is_remote:
                from tracelake._remote import ClientBackend

                _backend = ClientBackend(destination.server_url or "")
            else:
                from tracelake._backend import StoreBackend

                _backend = StoreBackend(_open_store_locked())
        return _backend


def get_store() -> TraceStore:
    """Return the local store (embedded or SQL destinations only)."""
    RUNTIME.ensure_configured()
    with _lock:
        return _open_store_locked()


def _require_destination() -> Destination:
    if _destination is None:
        raise ConfigError("tracelake has no destination: traces go to an in-memory sink (tracelake.testing)")
    return _destination


def _open_store_locked() -> TraceStore:
    global _store
    destination = _require_destination()
    if destination.is_remote:
        raise ConfigError("TRACELAKE_TRACKING_URI names a server; there is no local store to open")
    if _store is None:
        from tracelake.store import SqlTraceStore

        _store = SqlTraceStore(destination.database_url or "", destination.artifact_root or "")
    return _store


def _open_store() -> TraceStore:
    """Open the store; safe on the export thread (takes no runtime lock)."""
    with _lock:
        return _open_store_locked()


def _close_store() -> None:
    """Close the store and backend of the previous destination."""
    global _store, _backend
    with _lock:
        backend, store = _backend, _store
        _backend, _store = None, None
    if backend is not None and store is None:
        backend.close()
    if store is not None:
        store.close()


class EmbeddedSink:
    """Writes spans into the local store through `ingest`, from the export thread and a writer thread.

    `export` normalises the records on the export thread and hands the store write to a writer
    thread of its own (`BackgroundWrites`), so that converting and normalising the next batch
    overlaps writing this one (SQLite, compression and file writes release the GIL). The exporter
    calls `wait_exported` before completing a flush: `flush()` is True only once all is stored.
    """

    def __init__(self) -> None:
        self._resolved: dict[tuple[str | None, str | None], str] = {}
        self._writes = BackgroundWrites("tracelake-store-writer")

    def export(self, experiment: ExperimentRef, records: Sequence[SpanRecord]) -> None:
        from tracelake.ingest import normalize

        if not records:
            return
        store = _open_store()
        experiment_id = self._experiment_id(store, experiment)
        batches = normalize(records)
        self._writes.submit(functools.partial(store.write_batches, experiment_id, batches), len(records))

    def wait_exported(self) -> int:
        """Wait until every exported batch is stored; return the spans lost since the last call."""
        return self._writes.wait()

    def _experiment_id(self, store: TraceStore, ref: ExperimentRef) -> str:
        if ref.experiment_id is not None:
            return ref.experiment_id
        key = (ref.name, ref.experiment_id)
        cached = self._resolved.get(key)
        if cached is None:
            cached = store.get_or_create_experiment(ref.name or DEFAULT_EXPERIMENT).experiment_id
            self._resolved[key] = cached
        return cached

    def shutdown(self) -> None:
        self._writes.close()


def configure(
    *,
    tracking_uri: str | None = None,
    home: str | None = None,
    experiment_name: str | None = None,
    experiment_id: str | None = None,
    enabled: bool | None = None,
    sampling_ratio: float | None = None,
    environment: str | None = None,
    max_payload_bytes: int | None = None,
    redact: Callable[[SpanRecord], SpanRecord | None] | None = None,
    export_queue_size: int | None = None,
    export_batch_size: int | None = None,
    export_interval_ms: int | None = None,
    export_defer_gc: bool | None = None,
    sink: SpanSink | None = None,
    id_generator: IdGenerator | None = None,
    clock: Clock | None = None,
) -> None:
    """Configure tracing; every argument falls back to its TRACELAKE_* variable, then a default.

    Args:
        tracking_uri: a folder (embedded store), `sqlite:///…`, `postgresql://…`, or the
            `http(s)://` URL of a tracelake server. Env TRACELAKE_TRACKING_URI.
        home: folder of the embedded store when no tracking URI is given. Env TRACELAKE_HOME.
        experiment_name: experiment receiving traces, created if missing. Env TRACELAKE_EXPERIMENT_NAME.
        experiment_id: experiment id receiving traces. Env TRACELAKE_EXPERIMENT_ID.
        enabled: False makes every decorator and span a pass-through. Env TRACELAKE_TRACING.
        sampling_ratio: fraction of traces kept, decided per trace. Env TRACELAKE_SAMPLING_RATIO.
        environment: stamped on every trace as metadata `environment`. Env TRACELAKE_ENVIRONMENT.
        max_payload_bytes: inputs/outputs above this are truncated with a marker. Env TRACELAKE_MAX_PAYLOAD_BYTES.
        redact: called with every span record before it leaves the process, on the export thread;
            return the record (changed or not) or None to drop the span.
        export_queue_size: spans waiting for export before new ones are dropped. Env TRACELAKE_EXPORT_QUEUE_SIZE.
        export_batch_size: spans per store write. Env TRACELAKE_EXPORT_BATCH_SIZE.
        export_interval_ms: longest wait before export. Env TRACELAKE_EXPORT_INTERVAL_MS.
        export_defer_gc: False keeps the export thread from deferring the garbage collector while it
            converts a batch (docs/configuration.md). Env TRACELAKE_EXPORT_DEFER_GC.
        sink: send spans somewhere else (tests use an in-memory sink).
        id_generator: source of trace and span ids (tests use sequential ids).
        clock: source of timestamps in ns (tests use a fake clock).

    Raises:
        ConfigError: a value is invalid; the message names the variable.
    """
    global _destination
    env = _config.environ()
    uri = _config.TRACKING_URI.resolve(tracking_uri, env)
    folder = _config.HOME.resolve(home, env)
    ratio = _config.SAMPLING_RATIO.resolve(sampling_ratio, env)
    if not 0.0 <= ratio <= 1.0:
        raise ConfigError(f"sampling_ratio={ratio!r} is invalid: expected a number between 0.0 and 1.0")
    destination = resolve_destination(uri, folder) if sink is None else None
    settings: dict[str, Any] = {
        "enabled": _config.TRACING.resolve(enabled, env),
        "sampling_ratio": ratio,
        "experiment": ExperimentRef(
            name=_config.EXPERIMENT_NAME.resolve(experiment_name, env),
            experiment_id=_config.EXPERIMENT_ID.resolve(experiment_id, env),
        ),
        "environment": _config.ENVIRONMENT.resolve(environment, env),
        "max_payload_bytes": _config.MAX_PAYLOAD_BYTES.resolve(max_payload_bytes, env),
        "max_queue_size": _config.QUEUE_SIZE.resolve(export_queue_size, env),
        "batch_size": _config.BATCH_SIZE.resolve(export_batch_size, env),
        "interval_s": _config.EXPORT_INTERVAL_MS.resolve(export_interval_ms, env) / 1000,
        "defer_gc": _config.EXPORT_DEFER_GC.resolve(export_defer_gc, env),
        "redact": redact,
        "ids": id_generator,
        "clock": clock,
    }
    if sink is None and destination is not None and destination.is_remote:
        from tracelake._remote import make_remote_sink

        sink = make_remote_sink(destination.server_url or "", env, home=folder)
    with RUNTIME.lock:
        RUNTIME.install(sink or EmbeddedSink(), **settings)
        if destination != _destination:
            _close_store()
        _destination = destination


def _auto_configure() -> None:
    configure()


RUNTIME.auto_configure = _auto_configure


def set_experiment(name: str | None = None, experiment_id: str | None = None) -> Experiment:
    """Send the traces that start from now on to this experiment, creating it (by name) if missing.

    Raises:
        ConfigError: neither or both of name and experiment_id given.
        NotFoundError: no experiment with that id.
    """
    if (name is None) == (experiment_id is None):
        raise ConfigError("set_experiment() needs exactly one of name or experiment_id")
    backend = get_backend()
    if experiment_id:
        experiment = backend.get_experiment(experiment_id)
    else:
        experiment = backend.get_or_create_experiment(name or "")
    RUNTIME.experiment = ExperimentRef(name=experiment.name, experiment_id=experiment.experiment_id)
    return experiment


def current_experiment_id() -> str | None:
    """Return the id of the experiment traces go to, resolving a name if needed; None when unset."""
    ref = RUNTIME.experiment
    if ref.experiment_id is not None:
        return ref.experiment_id
    if ref.name is None:
        return None
    experiment = get_backend().get_experiment_by_name(ref.name)
    return None if experiment is None else experiment.experiment_id
