"""Trace payloads: the full spans of each trace as compressed JSON objects in an artifact repository.

Layout, under a trace's payload URI (`<experiment artifact_location>/traces/<trace_id>`):

    seg-<time_ns>-<random>.json.gz       one per write that brought new spans
    spans-<time_ns>-<random>.json.gz     the compaction of earlier objects

Each object is a gzip-compressed JSON list of `Span.to_dict()`. Segments are written as batches
arrive; once the trace's root span has arrived, the objects are compacted into one. Compaction
writes the new object first and then deletes exactly the objects it read, and reading unions every
object and keeps one version per span id, so a crash at any point (or two processes compacting at
once) loses nothing and duplicates nothing.
"""

from __future__ import annotations

import gzip
import heapq
import logging
import time
import uuid
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

import orjson

from tracelake.exceptions import NotFoundError, StoreError
from tracelake.model import Span
from tracelake.store.artifacts.base import ArtifactRepository
from tracelake.store.artifacts.local import LocalArtifactRepository

logger = logging.getLogger(__name__)

SEGMENT_PREFIX = "seg-"
COMPACTED_PREFIX = "spans-"
SUFFIX = ".json.gz"

# Span JSON already shrinks about tenfold at middle levels; higher ones cost write-path time for a few
# percent more.
_COMPRESS_LEVEL = 5
# Segment writes are a few filesystem metadata operations each (mkdir, create, rename) that wait on
# the disk rather than the CPU: overlapping them with each other and with the index statements is
# what lets one call write hundreds of traces fast.
_WRITE_THREADS = 4
# A concurrent compaction can delete an object between our listing and our read; a fresh listing
# then finds the compacted object. More attempts than this means something else is wrong.
_READ_ATTEMPTS = 5


def artifact_repository(uri: str) -> ArtifactRepository:
    """Return the repository for a location URI (local paths and `file://` URIs for now).

    Raises:
        StoreError: the scheme is not supported.
    """
    # S3 will be chosen here by scheme; until then LocalArtifactRepository rejects other schemes.
    return LocalArtifactRepository(uri)


def _default(value: Any) -> Any:
    # Inputs and outputs should arrive JSON-ready from ingest; anything else is kept as text rather
    # than failing the whole write.
    if isinstance(value, (set, frozenset, tuple)):
        return list(value)
    return str(value)


def encode_spans(spans: Iterable[Span]) -> bytes:
    """Serialise spans to one payload object (gzip-compressed JSON)."""
    data = orjson.dumps([span.to_dict() for span in spans], default=_default, option=orjson.OPT_NON_STR_KEYS)
    return gzip.compress(data, compresslevel=_COMPRESS_LEVEL, mtime=0)


def decode_spans(data: bytes) -> list[Span]:
    """Parse one payload object."""
    return [Span.from_dict(item) for item in orjson.loads(gzip.decompress(data))]


def _new_key(prefix: str) -> str:
    # Time first so that a listing is in write order; the random part keeps concurrent writers apart.
    return f"{prefix}{time.time_ns():020d}-{uuid.uuid4().hex[:12]}{SUFFIX}"


def _is_payload_key(key: str) -> bool:
    return "/" not in key and key.endswith(SUFFIX) and key.startswith((SEGMENT_PREFIX, COMPACTED_PREFIX))


def merge_spans(objects: Iterable[Sequence[Span]]) -> list[Span]:
    """Union spans from several objects, one version per span id.

    The first version seen wins, except that a finished version replaces an unfinished one (a span
    re-sent with its end time after an in-progress export).
    """
    merged: dict[str, Span] = {}
    for spans in objects:
        for span in spans:
            kept = merged.get(span.span_id)
            if kept is None or (kept.end_time_ns is None and span.end_time_ns is not None):
                merged[span.span_id] = span
    return list(merged.values())


def order_spans(spans: Iterable[Span]) -> list[Span]:
    """Order spans by start time, never putting a child before its parent.

    Spans whose parent is absent are treated as roots; spans caught in a parent cycle (corrupt
    input) come last, by start time.
    """
    spans = list(spans)
    by_id = {span.span_id: span for span in spans}
    children: dict[str, list[Span]] = {}
    ready: list[tuple[int, str, Span]] = []
    for span in spans:
        if span.parent_id is None or span.parent_id not in by_id or span.parent_id == span.span_id:
            ready.append((span.start_time_ns, span.span_id, span))
        else:
            children.setdefault(span.parent_id, []).append(span)
    heapq.heapify(ready)
    ordered: list[Span] = []
    while ready:
        _, span_id, span = heapq.heappop(ready)
        ordered.append(span)
        for child in children.pop(span_id, ()):
            heapq.heappush(ready, (child.start_time_ns, child.span_id, child))
    if len(ordered) < len(spans):
        placed = {span.span_id for span in ordered}
        ordered.extend(sorted((s for s in spans if s.span_id not in placed), key=lambda s: s.start_time_ns))
    return ordered


class TracePayloads:
    """Reads and writes the payload objects of traces, given each trace's payload URI.

    Thread contract: safe to call from any thread and any number of processes at once.
    """

    def __init__(self, repository_for: Callable[[str], ArtifactRepository] = artifact_repository) -> None:
        """Create the payload layer over repositories made by `repository_for(uri)`."""
        self._repository_for = repository_for

    def write_segment(self, payload_uri: str, spans: Sequence[Span]) -> str:
        """Store `spans` as a new segment of the trace and return its key."""
        key = _new_key(SEGMENT_PREFIX)
        self._repository_for(payload_uri).put(key, encode_spans(spans))
        return key

    def start_segments(self, segments: Sequence[tuple[str, Sequence[Span]]]) -> SegmentWrites:
        """Start writing one segment per (payload URI, spans) pair; `finish()` the result to wait.

        The writes run on worker threads, so the caller can meanwhile do its index work.
        """
        return SegmentWrites(self, segments)

    def discard(self, payload_uri: str, key: str) -> None:
        """Delete one object, e.g. a segment whose index rows failed to commit. Never raises."""
        try:
            self._repository_for(payload_uri).delete(key)
        except StoreError:
            logger.warning("could not delete payload object %s/%s", payload_uri, key, exc_info=True)

    def read_spans(self, payload_uri: str) -> list[Span]:
        """Return the trace's spans: every object merged, ordered parents first, by start time."""
        repository = self._repository_for(payload_uri)
        for _ in range(_READ_ATTEMPTS):
            keys = [key for key in repository.list() if _is_payload_key(key)]
            try:
                objects = [self._decode(repository, key, strict=False) for key in keys]
            except NotFoundError:
                continue  # compacted away under us: list again
            return order_spans(merge_spans(objects))
        raise StoreError(f"read the spans under {payload_uri}: objects kept disappearing while reading")

    def compact(self, payload_uri: str) -> bool:
        """Merge the trace's objects into one if there are several; return whether it did.

        Gives up (returning False, changing nothing) when an object vanished or cannot be decoded:
        another process is compacting, or an object needs a human, and reading stays correct anyway.
        """
        repository = self._repository_for(payload_uri)
        keys = [key for key in repository.list() if _is_payload_key(key)]
        if len(keys) < 2:
            return False
        try:
            objects = [self._decode(repository, key, strict=True) for key in keys]
        except (NotFoundError, ValueError, OSError, EOFError):
            return False
        spans = order_spans(merge_spans(objects))
        repository.put(_new_key(COMPACTED_PREFIX), encode_spans(spans))
        for key in keys:
            repository.delete(key)
        return True

    def delete_trace(self, payload_uri: str) -> None:
        """Delete every object of the trace."""
        self._repository_for(payload_uri).delete_all()

    def object_keys(self, payload_uri: str) -> list[str]:
        """Return the keys of the trace's payload objects (for diagnostics and tests)."""
        return [key for key in self._repository_for(payload_uri).list() if _is_payload_key(key)]

    @staticmethod
    def _decode(repository: ArtifactRepository, key: str, *, strict: bool) -> list[Span]:
        data = repository.get(key)
        try:
            return decode_spans(data)
        except (ValueError, OSError, EOFError, KeyError, TypeError):
            if strict:
                raise ValueError(f"undecodable payload object {key}") from None
            # One damaged object must not make the rest of the trace unreadable.
            logger.error("skipping undecodable payload object %s/%s", repository.root_uri, key, exc_info=True)
            return []


class SegmentWrites:
    """Segment writes in flight (see `TracePayloads.start_segments`)."""

    def __init__(self, payloads: TracePayloads, segments: Sequence[tuple[str, Sequence[Span]]]) -> None:
        self._payloads = payloads
        self._segments = segments
        self._pool: ThreadPoolExecutor | None = None
        self._futures: list[tuple[str, Future[str]]] = []
        if len(segments) > 1:
            # A pool per call rather than one kept open: no idle threads, nothing to lose across a fork.
            self._pool = ThreadPoolExecutor(max_workers=min(_WRITE_THREADS, len(segments)))
            self._futures = [
                (payload_uri, self._pool.submit(payloads.write_segment, payload_uri, spans))
                for payload_uri, spans in segments
            ]

    def finish(self, written: list[tuple[str, str]]) -> None:
        """Wait for every write; append (payload URI, key) of each stored segment to `written`.

        Every successful write is recorded even when another failed, so that the caller can discard
        them all; then the first failure is raised.
        """
        if self._pool is None:
            for payload_uri, spans in self._segments:
                written.append((payload_uri, self._payloads.write_segment(payload_uri, spans)))
            return
        self._pool.shutdown(wait=True)
        failure: BaseException | None = None
        for payload_uri, future in self._futures:
            error = future.exception()
            if error is None:
                written.append((payload_uri, future.result()))
            elif failure is None:
                failure = error
        if failure is not None:
            raise failure
