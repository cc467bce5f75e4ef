"""Composition root of the SDK: turns settings into a destination (the embedded store, for now).

The only SDK-side module that reaches `ingest` and `store`, and only inside functions, so that
`import tracelake` never loads SQLAlchemy.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tracelake import _config
from tracelake.exceptions import ConfigError
from tracelake.model import Experiment, SpanRecord
from tracelake.tracing import RUNTIME, ExperimentRef, SpanSink
from tracelake.tracing._ids import Clock, IdGenerator

if TYPE_CHECKING:
    from tracelake.store import TraceStore

DEFAULT_EXPERIMENT = "Default"

_store_lock = threading.Lock()
_store: TraceStore | None = None
_store_key: tuple[str, str] | None = None


def resolve_location(tracking_uri: str | None, home: str) -> tuple[str, str]:
    """Return (database URL, artifact root) for a tracking URI, or raise ConfigError."""
    if tracking_uri is None or tracking_uri.startswith("file://") or "://" not in tracking_uri:
        folder = home if tracking_uri is None else tracking_uri.removeprefix("file://")
        root = Path(folder).expanduser().resolve()
        return f"sqlite:///{root / 'tracelake.db'}", str(root / "artifacts")
    scheme = tracking_uri.split("://", 1)[0].lower()
    if scheme.startswith(("sqlite", "postgresql", "postgres")):
        return tracking_uri, str(Path(home).expanduser().resolve() / "artifacts")
    if scheme in ("http", "https"):
        raise ConfigError(
            f"TRACELAKE_TRACKING_URI={tracking_uri!r}: sending to a tracelake server is not available in this "
            "version yet; use a folder path (embedded store) or a sqlite:// or postgresql:// URL"
        )
    raise ConfigError(
        f"TRACELAKE_TRACKING_URI={tracking_uri!r} is invalid: expected a folder path, sqlite:///…, or postgresql://…"
    )


def get_store() -> TraceStore:
    """Return the store of the configured destination (configuring from the environment if needed)."""
    RUNTIME.ensure_configured()
    return _open_store()


def _open_store() -> TraceStore:
    """Open the configured store once per process. Safe on the export thread: takes no runtime lock."""
    global _store, _store_key
    key = _current_location
    if key is None:
        raise ConfigError("tracelake is not configured")
    with _store_lock:
        if _store is None or _store_key != key:
            from tracelake.store import SqlTraceStore

            if _store is not None:
                _store.close()
            _store = SqlTraceStore(key[0], key[1])
            _store_key = key
        return _store


def _close_store() -> None:
    global _store, _store_key
    with _store_lock:
        if _store is not None:
            _store.close()
        _store, _store_key = None, None


_current_location: tuple[str, str] | None = None


class EmbeddedSink:
    """Writes spans straight into the local store through `ingest`, on the export thread."""

    def __init__(self) -> None:
        self._resolved: dict[tuple[str | None, str | None], str] = {}

    def export(self, experiment: ExperimentRef, records: Sequence[SpanRecord]) -> None:
        from tracelake.ingest import write_spans

        store = _open_store()
        write_spans(store, self._experiment_id(store, experiment), records)

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
        pass


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
    sink: SpanSink | None = None,
    id_generator: IdGenerator | None = None,
    clock: Clock | None = None,
) -> None:
    """Configure tracing; every argument falls back to its TRACELAKE_* variable, then a default.

    Args:
        tracking_uri: a folder (embedded store), `sqlite:///…` or `postgresql://…`. Env TRACELAKE_TRACKING_URI.
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
        sink: send spans somewhere else (tests use an in-memory sink).
        id_generator: source of trace and span ids (tests use sequential ids).
        clock: source of timestamps in ns (tests use a fake clock).

    Raises:
        ConfigError: a value is invalid; the message names the variable.
    """
    global _current_location
    env = _config.environ()
    uri = _config.TRACKING_URI.resolve(tracking_uri, env)
    folder = _config.HOME.resolve(home, env)
    exp_id = _config.EXPERIMENT_ID.resolve(experiment_id, env)
    exp_name = _config.EXPERIMENT_NAME.resolve(experiment_name, env)
    ratio = _config.SAMPLING_RATIO.resolve(sampling_ratio, env)
    if not 0.0 <= ratio <= 1.0:
        raise ConfigError(f"sampling_ratio={ratio!r} is invalid: expected a number between 0.0 and 1.0")
    location = resolve_location(uri, folder) if sink is None else None
    settings: dict[str, Any] = {
        "enabled": _config.TRACING.resolve(enabled, env),
        "sampling_ratio": ratio,
        "experiment": ExperimentRef(name=exp_name, experiment_id=exp_id),
        "environment": _config.ENVIRONMENT.resolve(environment, env),
        "max_payload_bytes": _config.MAX_PAYLOAD_BYTES.resolve(max_payload_bytes, env),
        "max_queue_size": _config.QUEUE_SIZE.resolve(export_queue_size, env),
        "batch_size": _config.BATCH_SIZE.resolve(export_batch_size, env),
        "interval_s": _config.EXPORT_INTERVAL_MS.resolve(export_interval_ms, env) / 1000,
        "redact": redact,
        "ids": id_generator,
        "clock": clock,
    }
    with RUNTIME.lock:
        RUNTIME.install(sink or EmbeddedSink(), **settings)
        if location != _current_location:
            _close_store()
        _current_location = location


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
    store = get_store()
    experiment = store.get_experiment(experiment_id) if experiment_id else store.get_or_create_experiment(name or "")
    RUNTIME.experiment = ExperimentRef(name=experiment.name, experiment_id=experiment.experiment_id)
    return experiment


def current_experiment_id() -> str | None:
    """Return the id of the experiment traces go to, resolving a name if needed; None when unset."""
    ref = RUNTIME.experiment
    if ref.experiment_id is not None:
        return ref.experiment_id
    if ref.name is None:
        return None
    experiment = get_store().get_experiment_by_name(ref.name)
    return None if experiment is None else experiment.experiment_id
