"""Remote mode (`TRACELAKE_TRACKING_URI=http(s)://…`): the OTLP sink with its disk spool, and the client backend.

`_setup` imports this module lazily, only for http(s) tracking URIs, so `import tracelake` never
loads httpx or the protobuf classes.

How a batch travels (all on tracelake's background threads, never the app's):

1. The export thread encodes it as OTLP protobuf and, if the spool is empty, posts it with a few
   quick retries (`OtlpHttpSender`). Acknowledged spans are done.
2. If the server cannot take it now (unreachable, timeout, 408/429/5xx), the batch goes to the
   disk spool, and so does every later batch while the spool holds anything, so that order is kept.
3. The drain thread sends spooled batches oldest first, with exponential backoff (or the
   server's `Retry-After`) between failed attempts, deleting each file only after a 2xx.

`export()` returns a `DeliveryReport`; spans only spooled are *not* acknowledged, so
`tracelake.flush()` reports False for them (see docs/remote.md).
"""

from __future__ import annotations

import hashlib
import os
import random
import re
import threading
import time
import weakref
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

from tracelake import _config
from tracelake.client import Client
from tracelake.client._auth import ClientCredentialsAuth
from tracelake.model import Assessment, Experiment, ModelRef, ModelVersion, RegisteredModel, SpanRecord, Trace
from tracelake.tracing._errors import log_once
from tracelake.tracing.export._sink import ExperimentRef, SpanSink
from tracelake.tracing.export.otlp_encode import EncodedBatch, encode_records
from tracelake.tracing.export.otlp_http import OTLP_PATH, OtlpHttpSender
from tracelake.tracing.export.spool import DiskSpool, SpooledBatch

EXPERIMENT_ID_HEADER = "x-tracelake-experiment-id"
EXPERIMENT_NAME_HEADER = "x-tracelake-experiment-name"
EXPERIMENT_NAME_RESOURCE = "tracelake.experiment.name"
_HEADER_SAFE = re.compile(r"[\x20-\x7e]+")


@dataclass(frozen=True)
class DeliveryReport:
    """What `RemoteSink.export()` did with a batch: every span is in exactly one count."""

    acknowledged: int
    spooled: int = 0
    rejected: int = 0


@dataclass(frozen=True)
class RemoteStats:
    """Counters of the remote sink since it started (spans unless said otherwise)."""

    acknowledged: int
    """Acknowledged by the server when first sent."""
    spooled: int
    """Written to the disk spool (not yet acknowledged when written)."""
    drained: int
    """Spooled earlier, then acknowledged by the server."""
    rejected: int
    """Lost: refused for good by the server, invalid, or refused by a full spool."""
    spool_refused: int
    """Part of `rejected`: spans the full (or unwritable) spool could not keep."""
    spool_batches: int
    spool_bytes: int


def experiment_target(ref: ExperimentRef) -> tuple[dict[str, str], dict[str, Any]]:
    """Return (headers, extra resource attributes) naming the experiment of a batch on the wire.

    A name that cannot travel in an HTTP header (non-ASCII) goes in the resource attribute the
    server also reads (docs/rest-api.md, OTLP).
    """
    if ref.experiment_id is not None:
        return {EXPERIMENT_ID_HEADER: ref.experiment_id}, {}
    if ref.name is None:
        return {}, {}
    if _HEADER_SAFE.fullmatch(ref.name) and ref.name == ref.name.strip():
        return {EXPERIMENT_NAME_HEADER: ref.name}, {}
    return {}, {EXPERIMENT_NAME_RESOURCE: ref.name}


class RemoteSink:
    """SpanSink sending OTLP to a tracking server, spooling to disk while it is away.

    Args:
        sender: posts encoded batches.
        spool: where batches wait while the server is unreachable; None turns spooling off
            (undeliverable spans are then rejected and counted).
        idle_poll_s: how often the drain thread looks for batches spooled by other processes.
        initial_backoff_s: wait before the first new drain attempt after a failure; doubled each time.
        max_backoff_s: longest wait between two drain attempts while the server is down.
        shutdown_drain_s: at shutdown, the most time spent sending what is spooled (if the server is up).
    """

    def __init__(
        self,
        sender: OtlpHttpSender,
        spool: DiskSpool | None,
        *,
        idle_poll_s: float = 30.0,
        initial_backoff_s: float = 1.0,
        max_backoff_s: float = 30.0,
        shutdown_drain_s: float = 3.0,
    ) -> None:
        self.sender = sender
        self.spool = spool
        self._idle_poll = idle_poll_s
        self._initial_backoff = initial_backoff_s
        self._max_backoff = max_backoff_s
        self._shutdown_drain = shutdown_drain_s
        self._acknowledged = self._spooled = self._drained = self._rejected = 0
        self._failures = 0
        self._not_before = 0.0
        self._closed = False
        self._lock = threading.Lock()
        self._init_threads()
        ref = weakref.ref(self)

        def reset_in_child() -> None:
            sink = ref()
            if sink is not None:
                sink._after_fork()

        os.register_at_fork(after_in_child=reset_in_child)
        if spool is not None:
            self._start_drainer()

    def _init_threads(self) -> None:
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._drainer: threading.Thread | None = None

    # Export thread ---------------------------------------------------------------------------------
    def export(self, experiment: ExperimentRef, records: Sequence[SpanRecord]) -> DeliveryReport:
        """Deliver or spool a batch; never raises for network or server problems."""
        headers, extra_resource = experiment_target(experiment)
        batch = encode_records(records, extra_resource)
        rejected = batch.invalid
        if batch.invalid:
            log_once("otlp-encode", "tracelake: %d spans with invalid ids were not exported", batch.invalid)
        if not batch.spans:
            return self._count(DeliveryReport(0, 0, rejected))
        if self.spool is not None and not self.spool.is_empty():
            # Older batches wait on disk: this one queues behind them, so the server sees them in order.
            spooled, refused = self._to_spool([batch], headers)
            return self._count(DeliveryReport(0, spooled, rejected + refused))
        result = self.sender.send(batch, headers)
        spooled = refused = 0
        if result.pending:
            self._note_failure(result.retry_after)
            spooled, refused = self._to_spool(result.pending, headers)
            log_once(
                "otlp-spooling",
                "tracelake: the tracking server %s cannot take spans now (%s); keeping them %s",
                self.sender.endpoint,
                result.error,
                "on disk until it is back" if self.spool is not None else "nowhere (spooling is off): they are lost",
            )
        return self._count(DeliveryReport(result.acknowledged, spooled, rejected + result.rejected + refused))

    def _to_spool(self, batches: Sequence[EncodedBatch], headers: Mapping[str, str]) -> tuple[int, int]:
        spooled = refused = 0
        for batch in batches:
            if self.spool is not None and self.spool.append(batch, headers):
                spooled += batch.spans
            else:
                refused += batch.spans
        if spooled:
            self._start_drainer()
        return spooled, refused

    def _count(self, report: DeliveryReport) -> DeliveryReport:
        with self._lock:
            self._acknowledged += report.acknowledged
            self._spooled += report.spooled
            self._rejected += report.rejected
        return report

    def _note_failure(self, retry_after: float | None) -> None:
        with self._lock:
            self._failures += 1
            delay = retry_after if retry_after is not None else self._backoff()
            self._not_before = max(self._not_before, time.monotonic() + delay)

    def _backoff(self) -> float:
        base = min(self._max_backoff, self._initial_backoff * 2.0 ** max(0, self._failures - 1))
        return base / 2 + random.uniform(0, base / 2)

    # Drain thread ----------------------------------------------------------------------------------
    def _start_drainer(self) -> None:
        with self._lock:
            if self._stop.is_set() or (self._drainer is not None and self._drainer.is_alive()):
                self._wake.set()
                return
            self._drainer = threading.Thread(target=self._drain_loop, name="tracelake-spool-drain", daemon=True)
            self._drainer.start()

    def _drain_loop(self) -> None:
        while not self._stop.is_set():
            wait = self._not_before - time.monotonic()
            if wait > 0:
                if self._stop.wait(wait):
                    return
                continue  # the exporter may have pushed the next attempt further out meanwhile
            try:
                drained_all = self._drain_pass(deadline=None)
            except Exception:  # the drain thread must survive anything
                log_once("spool-drain", "tracelake: error while sending spooled spans", exc_info=True)
                drained_all = False
                self._note_failure(None)
            if drained_all:
                self._wake.wait(self._idle_poll)
                self._wake.clear()
                if self.spool is not None:
                    self.spool.rescan()

    def _drain_pass(self, deadline: float | None) -> bool:
        """Send spooled batches oldest first; True when the spool is empty, False after a failure.

        With a `deadline` (shutdown), each request gets only the time left, and the pass ends there.
        """
        spool = self.spool
        if spool is None or spool.is_empty():
            return True
        with spool.drain_lock() as held:
            if not held:  # another process is draining this folder
                with self._lock:
                    self._not_before = time.monotonic() + self._idle_poll / 6
                return False
            while deadline is not None or not self._stop.is_set():
                timeout = None
                if deadline is not None:
                    timeout = deadline - time.monotonic()
                    if timeout <= 0:
                        return False
                item = spool.peek()
                if item is None:
                    with self._lock:
                        self._failures = 0
                    return True
                if not self._send_spooled(spool, item, timeout):
                    return False
        return False

    def _send_spooled(self, spool: DiskSpool, item: SpooledBatch, timeout_s: float | None) -> bool:
        result = self.sender.send(item.batch, item.headers, max_attempts=1, timeout_s=timeout_s)
        if result.pending:
            # Keep the whole file even if a split part got through: re-sending that part is
            # harmless (ingest is idempotent by trace and span id), losing the rest is not.
            self._note_failure(result.retry_after)
            return False
        with self._lock:
            self._failures = 0
            self._drained += result.acknowledged
            self._rejected += result.rejected
        spool.remove(item)
        return True

    # Lifecycle -------------------------------------------------------------------------------------
    def shutdown(self) -> None:
        """Stop the drain thread, then give the spool `shutdown_drain_s` to empty if the server is up.

        What remains on disk is sent by the next process that uses the same spool folder and server.
        """
        self._closed = True
        self._stop.set()
        self._wake.set()
        deadline = time.monotonic() + self._shutdown_drain
        drainer = self._drainer
        if drainer is not None and drainer is not threading.current_thread():
            drainer.join(self._shutdown_drain)
        spool = self.spool
        if spool is not None and self._shutdown_drain > 0 and time.monotonic() < deadline and not spool.is_empty():
            try:
                self._drain_pass(deadline=deadline)
            except Exception:
                log_once("spool-drain", "tracelake: error while sending spooled spans", exc_info=True)
        self.sender.close()

    def stats(self) -> RemoteStats:
        """Counters since the sink started, and what the spool holds now."""
        spool = self.spool.stats() if self.spool is not None else None
        with self._lock:
            return RemoteStats(
                acknowledged=self._acknowledged,
                spooled=self._spooled,
                drained=self._drained,
                rejected=self._rejected,
                spool_refused=spool.refused_spans if spool else 0,
                spool_batches=spool.batches if spool else 0,
                spool_bytes=spool.bytes if spool else 0,
            )

    def _after_fork(self) -> None:
        """In a forked child: fresh locks, connections and drain thread (the parent's are not ours)."""
        if self._closed:
            return
        self._lock = threading.Lock()
        self._init_threads()
        self.sender.reset_after_fork()
        if self.spool is not None:
            self.spool.reset_after_fork()
            self._start_drainer()


def spool_folder(root: Path, server_url: str) -> Path:
    """Return the spool folder of one server under `root`: spans never drain to another server."""
    readable = re.sub(r"[^A-Za-z0-9.-]+", "_", server_url.split("://", 1)[-1]).strip("_")[:60]
    digest = hashlib.sha256(server_url.encode()).hexdigest()[:12]
    return root / f"{readable}-{digest}"


def client_credentials(server_url: str, env: Mapping[str, str]) -> ClientCredentialsAuth | None:
    """Return the token-exchanging auth of TRACELAKE_CLIENT_ID + TRACELAKE_CLIENT_SECRET, if both are set."""
    client_id = _config.CLIENT_ID.resolve(None, env)
    client_secret = _config.CLIENT_SECRET.resolve(None, env)
    if not client_id or not client_secret:
        return None
    return ClientCredentialsAuth(server_url, client_id, client_secret)


def make_remote_sink(server_url: str, env: Mapping[str, str], home: str | None = None) -> SpanSink:
    """Build the sink of remote mode from TRACELAKE_* settings in `env`.

    Args:
        server_url: the tracking server, e.g. `http://127.0.0.1:5000`.
        env: the environment to read TRACELAKE_* settings from.
        home: `configure(home=…)`, which wins over TRACELAKE_HOME for the default spool folder.

    Raises:
        ConfigError: a setting is invalid; the message names the variable.
    """
    token = _config.TOKEN.resolve(None, env)
    timeout_s = _config.EXPORT_TIMEOUT_MS.resolve(None, env) / 1000
    max_bytes = _config.SPOOL_MAX_BYTES.resolve(None, env)
    root = _config.SPOOL_DIR.resolve(None, env)
    spool_root = Path(root) if root else Path(_config.HOME.resolve(home, env)) / "spool"
    url = server_url.rstrip("/")
    sender = OtlpHttpSender(
        url + OTLP_PATH,
        headers={"Authorization": f"Bearer {token}"} if token else None,
        timeout_s=timeout_s,
        auth=None if token else client_credentials(url, env),
    )
    spool = DiskSpool(spool_folder(spool_root.expanduser().resolve(), url), max_bytes) if max_bytes > 0 else None
    sink: object = RemoteSink(sender, spool)
    # RemoteSink.export returns a DeliveryReport (spooled and rejected counts) that the exporter reads
    # to tell acknowledged spans from spooled ones; typed loosely until SpanSink declares it.
    return cast(SpanSink, sink)


class ClientBackend:
    """The SDK's read and feedback functions over a tracking server's REST API."""

    def __init__(self, server_url: str, env: Mapping[str, str] | None = None, *, client: Client | None = None) -> None:
        environ = _config.environ() if env is None else env
        self.client = client or Client(
            server_url,
            token=_config.TOKEN.resolve(None, environ),
            client_id=_config.CLIENT_ID.resolve(None, environ),
            client_secret=_config.CLIENT_SECRET.resolve(None, environ),
        )

    def search_traces(
        self,
        experiment_ids: Sequence[str] | None,
        filter_string: str | None,
        order_by: Sequence[str] | None,
        max_results: int,
        page_token: str | None,
        include_spans: bool,
    ) -> tuple[list[Trace], str | None]:
        page = self.client.search_traces(
            experiment_ids, filter_string, order_by, max_results, page_token, include_spans
        )
        return page.traces, page.next_page_token

    def get_trace(self, trace_id: str) -> Trace:
        return self.client.get_trace(trace_id)

    def delete_traces(
        self,
        experiment_id: str,
        max_timestamp_ms: int | None,
        max_traces: int | None,
        trace_ids: Sequence[str] | None,
    ) -> int:
        return self.client.delete_traces(experiment_id, max_timestamp_ms, max_traces, trace_ids)

    def set_trace_tag(self, trace_id: str, key: str, value: str) -> None:
        self.client.set_trace_tag(trace_id, key, value)

    def recompute_costs(self, experiment_id: str, since_ms: int | None) -> dict[str, Any]:
        return self.client.recompute_costs(experiment_id, since_ms)

    def delete_trace_tag(self, trace_id: str, key: str) -> None:
        self.client.delete_trace_tag(trace_id, key)

    def get_experiment(self, experiment_id: str) -> Experiment:
        return self.client.get_experiment(experiment_id)

    def get_experiment_by_name(self, name: str) -> Experiment | None:
        return self.client.get_experiment_by_name(name)

    def get_or_create_experiment(self, name: str) -> Experiment:
        from tracelake.exceptions import ConflictError

        existing = self.client.get_experiment_by_name(name)
        if existing is not None:
            return existing
        try:
            return self.client.create_experiment(name)
        except ConflictError:  # created concurrently (another process, or the OTLP door)
            created = self.client.get_experiment_by_name(name)
            if created is None:
                raise
            return created

    def create_assessment(
        self,
        assessment: dict[str, Any],
        trace_id: str | None = None,
        client_request_id: str | None = None,
        experiment_id: str | None = None,
    ) -> Assessment:
        return self.client.create_assessment(
            assessment, trace_id=trace_id, experiment_id=experiment_id, client_request_id=client_request_id
        )

    def update_assessment(self, trace_id: str, assessment_id: str, changes: dict[str, Any]) -> Assessment:
        return self.client.update_assessment(trace_id, assessment_id, changes)

    def delete_assessment(self, trace_id: str, assessment_id: str) -> None:
        self.client.delete_assessment(trace_id, assessment_id)

    def list_assessments(self, trace_id: str) -> list[Assessment]:
        return self.client.list_assessments(trace_id)

    # Model registry --------------------------------------------------------------------------------
    def list_registered_models(self) -> list[RegisteredModel]:
        return self.client.list_registered_models()

    def get_registered_model(self, name: str) -> RegisteredModel:
        return self.client.get_registered_model(name)

    def delete_registered_model(self, name: str) -> None:
        self.client.delete_registered_model(name)

    def create_model_version(
        self,
        name: str,
        package: bytes,
        source: str | None = None,
        description: str | None = None,
        tags: dict[str, str] | None = None,
    ) -> ModelVersion:
        return self.client.create_model_version(name, package, source, description, tags)

    def list_model_versions(self, name: str) -> list[ModelVersion]:
        return self.client.list_model_versions(name)

    def get_model_version(self, name: str, version: int) -> ModelVersion:
        return self.client.get_model_version(name, version)

    def resolve_model_version(self, ref: ModelRef) -> ModelVersion:
        if ref.version is not None:
            return self.client.get_model_version(ref.name, ref.version)
        return self.client.get_model_version_by_alias(ref.name, ref.alias or "")

    def get_model_version_package(self, name: str, version: int) -> bytes:
        return self.client.get_model_version_package(name, version)

    def set_model_alias(self, name: str, alias: str, version: int) -> ModelVersion:
        return self.client.set_model_alias(name, alias, version)

    def delete_model_alias(self, name: str, alias: str) -> None:
        self.client.delete_model_alias(name, alias)

    def close(self) -> None:
        self.client.close()
