"""Per-trace payload objects: how traces written before payload packs keep their spans.

Since migration 0004 the store writes spans into packs (`tracelake.store.artifacts.packs`); this
module still reads and deletes the per-trace objects of traces written earlier (`payload_format`
1), and provides the span encoding both layouts share.

Layout, for a trace whose payload URI is `<experiment artifact_location>/traces/<trace_id>`:

    traces/<trace_id>.json.gz                 its head: the spans of the write that created the trace
    traces/<trace_id>/seg-<time_ns>-<id>.json.gz      one per later write that brought new spans
    traces/<trace_id>/spans-<time_ns>-<id>.json.gz    the compaction of earlier objects

Each object is a gzip-compressed JSON list of `Span.to_dict()`. Most traces arrive in one write and
so are one file and no folder: on a local disk a folder costs the filesystem an inode of its own,
and allocating inodes (a directory's more than a file's) is what a write spends most time on.
Later segments are written as batches arrive; once the trace's root span has arrived, the objects
are compacted into one. Compaction writes the new object first and then deletes exactly the objects
it read, and reading unions every object and keeps one version per span id, so a crash at any point
(or two processes compacting at once) loses nothing and duplicates nothing. The head is written
only by the writer that creates the trace's index row, so it never reappears once compacted away.
"""

from __future__ import annotations

import gzip
import heapq
import itertools
import logging
import os
import time
import zlib
from collections.abc import Callable, Iterable, Sequence
from typing import Any, Final, Protocol, TypeVar

import orjson

from tracelake.exceptions import NotFoundError, StoreError
from tracelake.model import Span
from tracelake.store.artifacts import resolve
from tracelake.store.artifacts.base import ArtifactRepository

logger = logging.getLogger(__name__)

SEGMENT_PREFIX = "seg-"
COMPACTED_PREFIX = "spans-"
SUFFIX = ".json.gz"
#: How `TracePayloads` names a trace's head object among the keys it returns and accepts.
HEAD_KEY: Final = "(head)"

# Measured on typical agent spans (about 3 KB of JSON per trace): level 3 shrinks them 4.2-fold, level
# 5 4.4-fold for a quarter more compression time on the write path; higher levels gain nothing.
_COMPRESS_LEVEL = 3
# A concurrent compaction can delete an object between our listing and our read; a fresh listing
# then finds the compacted object. More attempts than this means something else is wrong.
_READ_ATTEMPTS = 5


def artifact_repository(uri: str) -> ArtifactRepository:
    """Return the repository for a location URI: a local path, a `file://` or an `s3://` URI.

    Raises:
        StoreError: the scheme is not supported.
    """
    return resolve.artifact_repository(uri)


def _default(value: Any) -> Any:
    # Inputs and outputs should arrive JSON-ready from ingest; anything else is kept as text rather
    # than failing the whole write.
    if isinstance(value, (set, frozenset, tuple)):
        return list(value)
    return str(value)


def encode_spans(spans: Iterable[Span]) -> bytes:
    """Serialise spans to one payload object (gzip-compressed JSON)."""
    data = orjson.dumps([span.to_dict() for span in spans], default=_default, option=orjson.OPT_NON_STR_KEYS)
    return gzip_member(data)


# zlib's default memLevel (8) allocates about 270 KB per compressor and clears a 64 KB hash table:
# for a trace of a few KB that set-up costs three times the compression itself. Level 5 sizes them
# for 8 KB of history, and the output of a small payload is byte for byte the same size.
_SMALL_PAYLOAD_BYTES: Final = 64 * 1024
_SMALL_MEM_LEVEL: Final = 5
_GZIP_WBITS: Final = 16 + zlib.MAX_WBITS  # a gzip header and trailer around the deflate stream


def gzip_member(data: bytes) -> bytes:
    """Compress `data` into one gzip member (readable by `gzip.decompress` and any gzip tool)."""
    mem_level = _SMALL_MEM_LEVEL if len(data) < _SMALL_PAYLOAD_BYTES else zlib.DEF_MEM_LEVEL
    compressor = zlib.compressobj(_COMPRESS_LEVEL, zlib.DEFLATED, _GZIP_WBITS, mem_level)
    return compressor.compress(data) + compressor.flush()


def gunzip(data: bytes) -> bytes:
    """Decompress gzip data: one member in C (zlib), several (concatenated) through `gzip`."""
    decompressor = zlib.decompressobj(_GZIP_WBITS)
    try:
        out = decompressor.decompress(data)
    except zlib.error:
        return gzip.decompress(data)  # raises the error that names the problem
    if decompressor.unused_data or not decompressor.eof:
        return gzip.decompress(data)
    return out


def decode_spans(data: bytes) -> list[Span]:
    """Parse one payload object."""
    return [Span.from_dict(item) for item in orjson.loads(gunzip(data))]


def decode_span_dicts(data: bytes) -> list[dict[str, Any]]:
    """Parse one payload object into the stored dicts (`Span.to_dict()` form), building no `Span`."""
    items: list[dict[str, Any]] = orjson.loads(gunzip(data))
    return items


class _Names:
    """Unique parts of object keys: a random token per process plus a counter (no syscall per key)."""

    def __init__(self) -> None:
        self.reset()
        os.register_at_fork(after_in_child=self.reset)

    def reset(self) -> None:
        self.token = os.urandom(4).hex()
        self.counter = itertools.count()

    def next(self) -> str:
        return f"{self.token}{next(self.counter):x}"


_names = _Names()


def unique_name() -> str:
    """Return a name part unique across processes and calls (for object keys)."""
    return _names.next()


def _new_key(prefix: str) -> str:
    # Time first so that a listing is in write order; the unique part keeps concurrent writers apart.
    return f"{prefix}{time.time_ns():020d}-{_names.next()}{SUFFIX}"


def _head_of(payload_uri: str) -> tuple[str, str]:
    """Return (location of the folder holding the trace's head, the head's key there)."""
    parent, _, name = payload_uri.rstrip("/").rpartition("/")
    if not parent or not name:
        raise StoreError(f"invalid payload location {payload_uri!r}")
    return parent, name + SUFFIX


def _is_payload_key(key: str) -> bool:
    return "/" not in key and key.endswith(SUFFIX) and key.startswith((SEGMENT_PREFIX, COMPACTED_PREFIX))


class SpanKeys(Protocol):
    """What merging and ordering look at: a `Span`, or a lighter view of a span's stored dict."""

    @property
    def span_id(self) -> str: ...
    @property
    def parent_id(self) -> str | None: ...
    @property
    def start_time_ns(self) -> int: ...
    @property
    def end_time_ns(self) -> int | None: ...


S = TypeVar("S", bound=SpanKeys)


def merge_spans(objects: Iterable[Sequence[S]]) -> list[S]:
    """Union spans from several objects, one version per span id.

    The first version seen wins, except that a finished version replaces an unfinished one (a span
    re-sent with its end time after an in-progress export).
    """
    merged: dict[str, S] = {}
    for spans in objects:
        for span in spans:
            kept = merged.get(span.span_id)
            if kept is None or (kept.end_time_ns is None and span.end_time_ns is not None):
                merged[span.span_id] = span
    return list(merged.values())


def order_spans(spans: Iterable[S]) -> list[S]:
    """Order spans by start time, never putting a child before its parent.

    Spans whose parent is absent are treated as roots; spans caught in a parent cycle (corrupt
    input) come last, by start time.
    """
    spans = list(spans)
    by_id = {span.span_id: span for span in spans}
    children: dict[str, list[S]] = {}
    ready: list[tuple[int, str, S]] = []
    for span in spans:
        if span.parent_id is None or span.parent_id not in by_id or span.parent_id == span.span_id:
            ready.append((span.start_time_ns, span.span_id, span))
        else:
            children.setdefault(span.parent_id, []).append(span)
    heapq.heapify(ready)
    ordered: list[S] = []
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
        # Heads of an experiment's traces share one folder: its repository is made once.
        self._parents: dict[str, ArtifactRepository] = {}

    def _parent(self, location: str) -> ArtifactRepository:
        repository = self._parents.get(location)
        if repository is None:
            if len(self._parents) >= 256:
                self._parents.clear()
            repository = self._parents[location] = self._repository_for(location)
        return repository

    def write_segment(self, payload_uri: str, spans: Sequence[Span], *, first: bool = False) -> str:
        """Store `spans` as a new object of the trace and return its key.

        Args:
            payload_uri: the trace's payload location.
            spans: the spans to store.
            first: the trace has no object yet, and the caller is creating its index row (so no
                one else writes this trace meanwhile): the spans become the trace's head.
        """
        data = encode_spans(spans)
        if first:
            location, key = _head_of(payload_uri)
            self._parent(location).put(key, data)
            return HEAD_KEY
        key = _new_key(SEGMENT_PREFIX)
        self._repository_for(payload_uri).put(key, data)
        return key

    def discard(self, payload_uri: str, key: str) -> None:
        """Delete one object, e.g. a segment whose index rows failed to commit. Never raises."""
        try:
            self._delete(payload_uri, key)
        except StoreError:
            logger.warning("could not delete payload object %s/%s", payload_uri, key, exc_info=True)

    def _delete(self, payload_uri: str, key: str) -> None:
        if key == HEAD_KEY:
            location, head = _head_of(payload_uri)
            self._parent(location).delete(head)
        else:
            self._repository_for(payload_uri).delete(key)

    def read_spans(self, payload_uri: str) -> list[Span]:
        """Return the trace's spans: every object merged, ordered parents first, by start time."""
        repository = self._repository_for(payload_uri)
        location, head = _head_of(payload_uri)
        for _ in range(_READ_ATTEMPTS):
            # The head first: a compaction deletes it only after writing the folder object that
            # holds its spans, which the listing below then finds.
            try:
                objects = [self._decode(self._parent(location), head)]
            except NotFoundError:
                objects = []
            keys = [key for key in repository.list() if _is_payload_key(key)]
            try:
                objects.extend(self._decode(repository, key) for key in keys)
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
        head = self._head_data(payload_uri)
        if len(keys) + (head is not None) < 2:
            return False
        try:
            objects = [] if head is None else [_decode_strict(head, HEAD_KEY)]
            objects.extend(_decode_strict(repository.get(key), key) for key in keys)
        except (NotFoundError, ValueError, OSError, EOFError):
            return False
        spans = order_spans(merge_spans(objects))
        repository.put(_new_key(COMPACTED_PREFIX), encode_spans(spans))
        for key in keys:
            repository.delete(key)
        if head is not None:
            self._delete(payload_uri, HEAD_KEY)
        return True

    def delete_trace(self, payload_uri: str) -> None:
        """Delete every object of the trace."""
        self._repository_for(payload_uri).delete_all()
        self._delete(payload_uri, HEAD_KEY)

    def object_keys(self, payload_uri: str) -> list[str]:
        """Return the keys of the trace's objects, its head (`HEAD_KEY`) first (for diagnostics and tests)."""
        keys = [key for key in self._repository_for(payload_uri).list() if _is_payload_key(key)]
        return keys if self._head_data(payload_uri) is None else [HEAD_KEY, *keys]

    def _head_data(self, payload_uri: str) -> bytes | None:
        location, head = _head_of(payload_uri)
        try:
            return self._parent(location).get(head)
        except NotFoundError:
            return None

    @staticmethod
    def _decode(repository: ArtifactRepository, key: str) -> list[Span]:
        data = repository.get(key)
        try:
            return decode_spans(data)
        except (ValueError, OSError, EOFError, KeyError, TypeError):
            # One damaged object must not make the rest of the trace unreadable.
            logger.error("skipping undecodable payload object %s/%s", repository.root_uri, key, exc_info=True)
            return []


def _decode_strict(data: bytes, key: str) -> list[Span]:
    try:
        return decode_spans(data)
    except (ValueError, OSError, EOFError, KeyError, TypeError):
        raise ValueError(f"undecodable payload object {key}") from None
