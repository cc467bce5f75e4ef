"""The trace view's reads: a trace's span index (no payloads) and one span with its payload.

A trace's payload is stored compressed as a whole (one member of a payload pack), so reading one
span means decoding the trace. The trace view opens span after span of the same trace, so decoded
traces are kept in a small LRU (per store), checked against the trace's payload version on every
read (two indexed reads): a span that arrives later is never hidden by the cache. The span index
can also start decoding in the background (`prefetch_payloads=true`), which the web UI asks for:
the first span it opens is then ready, or nearly, when the tree is drawn.
"""

from __future__ import annotations

import logging
import threading
import weakref
from collections import OrderedDict
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Annotated, Any, Final

from fastapi import APIRouter, Path, Query
from starlette.responses import Response

from tracelake.exceptions import NotFoundError
from tracelake.model import Span
from tracelake.query.span_index import PayloadVersion, payload_version, span_index
from tracelake.server.deps import StoreDep
from tracelake.server.responses import JsonResponse
from tracelake.server.routes.traces import TraceIdPath, trace_id_of
from tracelake.store import SqlTraceStore

__all__ = ["DecodedTraces", "router"]

router = APIRouter(tags=["Traces"])

SpanId = Annotated[str, Path(description="16 hex characters", min_length=1, max_length=16)]

_log = logging.getLogger(__name__)

#: Decoded traces kept per store, and the compressed payload bytes they may add up to (decoded,
#: JSON payloads take some 3-10 times that in memory). A trace bigger than the budget is not kept.
MAX_CACHED_TRACES: Final = 8
MAX_CACHED_STORED_BYTES: Final = 32 * 1024 * 1024
# Background decodes asked for by the span index: few at once, so they never crowd out requests.
_prefetcher = ThreadPoolExecutor(max_workers=2, thread_name_prefix="tracelake-span-prefetch")


@dataclass(frozen=True, slots=True)
class _Entry:
    version: tuple[Any, ...]
    stored_bytes: int
    spans: Future[dict[str, Span]]


class DecodedTraces:
    """A bounded LRU of decoded traces (span id → span), each valid for one payload version.

    Readers of a trace being decoded wait for that one decode rather than starting their own.
    """

    def __init__(self, max_traces: int = MAX_CACHED_TRACES, max_stored_bytes: int = MAX_CACHED_STORED_BYTES) -> None:
        self._max_traces = max_traces
        self._max_stored_bytes = max_stored_bytes
        self._lock = threading.Lock()
        self._entries: OrderedDict[str, _Entry] = OrderedDict()

    def spans(self, store: SqlTraceStore, trace_id: str, version: PayloadVersion) -> dict[str, Span]:
        """Return the trace's spans by id, decoding the trace unless its current version is cached."""
        if version.stored_bytes > self._max_stored_bytes:
            return _decode(store, trace_id)
        with self._lock:
            entry = self._entries.get(trace_id)
            if entry is not None and entry.version == version.key:
                self._entries.move_to_end(trace_id)
                return_future, owner = entry.spans, False
            else:
                entry = _Entry(version.key, version.stored_bytes, Future())
                self._entries[trace_id] = entry
                self._evict()
                return_future, owner = entry.spans, True
        if owner:
            try:
                return_future.set_result(_decode(store, trace_id))
            except BaseException as error:
                return_future.set_exception(error)
                with self._lock:
                    if self._entries.get(trace_id) is entry:
                        del self._entries[trace_id]
        return return_future.result()

    def holds(self, trace_id: str, version: PayloadVersion) -> bool:
        """Whether the trace's current version is cached (or being decoded)."""
        with self._lock:
            entry = self._entries.get(trace_id)
            return entry is not None and entry.version == version.key

    def _evict(self) -> None:
        total = sum(entry.stored_bytes for entry in self._entries.values())
        while len(self._entries) > 1 and (len(self._entries) > self._max_traces or total > self._max_stored_bytes):
            _, oldest = self._entries.popitem(last=False)
            total -= oldest.stored_bytes


def _decode(store: SqlTraceStore, trace_id: str) -> dict[str, Span]:
    return {span.span_id: span for span in store.get_spans(trace_id)}


_caches: weakref.WeakKeyDictionary[SqlTraceStore, DecodedTraces] = weakref.WeakKeyDictionary()
_caches_lock = threading.Lock()


def _cache_of(store: SqlTraceStore) -> DecodedTraces:
    with _caches_lock:
        cache = _caches.get(store)
        if cache is None:
            cache = _caches[store] = DecodedTraces()
        return cache


def _prefetch(store: SqlTraceStore, trace_id: str) -> None:
    try:
        cache = _cache_of(store)
        version = payload_version(store, trace_id)
        if not cache.holds(trace_id, version):
            cache.spans(store, trace_id, version)
    except Exception:  # a prefetch is only a hint: the span read that follows reports any problem
        _log.debug("prefetching the payload of trace %s failed", trace_id, exc_info=True)


@router.get("/api/v1/traces/{trace_id}/span-index", summary="A trace's spans without payloads")
def get_span_index(
    trace_id: TraceIdPath,
    store: StoreDep,
    prefetch_payloads: Annotated[
        bool, Query(description="also start decoding the trace's payloads, so that span reads that follow are fast")
    ] = False,
) -> Response:
    """Return every span's id, parent, name, type, status, times, model, tokens and cost: the tree, not the payloads."""
    wanted = trace_id_of(trace_id)
    summaries = span_index(store, wanted)
    if prefetch_payloads:
        _prefetcher.submit(_prefetch, store, wanted)
    return JsonResponse({"spans": [summary.to_dict() for summary in summaries]})


@router.get("/api/v1/traces/{trace_id}/spans/{span_id}", summary="One span with its payload")
def get_span(trace_id: TraceIdPath, span_id: SpanId, store: StoreDep) -> Response:
    """Return one span in full: inputs, outputs, attributes, events, status message."""
    wanted_trace = trace_id_of(trace_id)
    version = payload_version(store, wanted_trace)
    span = _cache_of(store).spans(store, wanted_trace, version).get(span_id.lower())
    if span is None:
        raise NotFoundError(f"trace {trace_id!r} has no span {span_id!r}")
    return JsonResponse({"span": span.to_dict()})
