"""Reading, compacting and deleting trace payloads, driven by the SQL index of pack members.

`SqlTraceStore` delegates here everything that touches payload objects outside a write: reading a
trace's spans (its pack members, plus per-trace objects of traces written before packs existed),
deleting the packs no trace refers to any more, and sweeping packs orphaned by a crash between
their write and their transaction's commit. (Writes, and the compaction of a finished trace's
members into one, are in `tracelake.store.sql.write`.)
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

import orjson
from sqlalchemy import Engine, select

from tracelake.exceptions import NotFoundError, StoreError
from tracelake.model import Span
from tracelake.store.artifacts import TracePayloads
from tracelake.store.artifacts.packs import PACK_FOLDER, PACK_SUFFIX, PayloadPacks
from tracelake.store.artifacts.payload import decode_span_dicts, decode_spans, merge_spans, order_spans
from tracelake.store.sql import segments as seg
from tracelake.store.sql.engine import read_connection
from tracelake.store.sql.schema import experiments

logger = logging.getLogger(__name__)

# A compaction or a deletion can remove a member between our reading the index and reading the
# member; the index read again then points at the new place. More attempts mean something is wrong.
_READ_ATTEMPTS = 5
T = TypeVar("T")
# As the payload encoding has it (`encode_spans`): non-string keys become strings.
_JSON_OPTION = orjson.OPT_NON_STR_KEYS


class _DictSpan:
    """The keys merging and ordering need, over a span's stored dict."""

    __slots__ = ("data", "end_time_ns", "parent_id", "span_id", "start_time_ns")

    def __init__(self, data: dict[str, Any]) -> None:
        self.data = data
        self.span_id: str = data["span_id"]
        self.parent_id: str | None = data.get("parent_id")
        self.start_time_ns: int = data["start_time_ns"]
        self.end_time_ns: int | None = data.get("end_time_ns")

    @staticmethod
    def wrap(spans: list[dict[str, Any]]) -> list[_DictSpan]:
        return [_DictSpan(span) for span in spans]

    @staticmethod
    def unwrap(span: _DictSpan) -> dict[str, Any]:
        return span.data


@dataclass(frozen=True)
class _Form(Generic[T]):
    """How a read hands spans back: decoding a member, and the views merging and ordering use."""

    decode: Callable[[bytes], list[Any]]
    from_span: Callable[[Span], Any]  # a legacy per-trace object's span, decoded as `Span`
    wrap: Callable[[list[Any]], list[Any]]
    unwrap: Callable[[Any], T]


def _same(value: Any) -> Any:
    return value


_SPANS: _Form[Span] = _Form(decode_spans, _same, _same, _same)
_SPAN_DICTS: _Form[dict[str, Any]] = _Form(decode_span_dicts, Span.to_dict, _DictSpan.wrap, _DictSpan.unwrap)

#: Packs younger than this are never swept: their write may still be about to commit.
ORPHAN_MIN_AGE_S = 3600.0


class PayloadIO:
    """Payload reads, compaction and garbage collection for one store."""

    def __init__(
        self,
        engine: Engine,
        packs: PayloadPacks,
        objects: TracePayloads,
        write_lock: Callable[[], AbstractContextManager[Any]],
    ) -> None:
        self._engine = engine
        self._packs = packs
        self._objects = objects
        self._write_lock = write_lock

    # Reading -------------------------------------------------------------------------------------

    def read_spans(self, trace_ids: Sequence[str]) -> dict[str, list[Span]]:
        """Return the spans of each existing trace, parents first by start time (missing traces are left out)."""
        return self._read(trace_ids, _SPANS)

    def read_span_dicts(self, trace_ids: Sequence[str]) -> dict[str, list[dict[str, Any]]]:
        """Like `read_spans`, but each span as its stored dict (`Span.to_dict()` form), building no `Span`.

        For bulk readers (the archive) that turn spans into rows or JSON anyway.
        """
        return self._read(trace_ids, _SPAN_DICTS)

    def read_span_texts(self, trace_ids: Sequence[str]) -> dict[str, tuple[bytes, ...]]:
        """Return each existing trace's stored span objects as JSON text, neither parsed nor merged.

        Each text is a JSON list of `Span.to_dict()`; a trace has one per pack member (a later
        write's spans, or a re-sent span, are further members), pack members in pack order, then
        the spans of per-trace objects written before packs. `merge_spans` over the texts in this
        order, then `order_spans`, gives `read_span_dicts`. For the archive, which parses and turns
        them into rows trace by trace. Missing traces are left out. (Tuples rather than lists: the
        garbage collector stops tracking a tuple of bytes, which matters with thousands of them.)
        """
        result: dict[str, tuple[bytes, ...]] = {}
        pending = list(dict.fromkeys(trace_ids))
        for _ in range(_READ_ATTEMPTS):
            with read_connection(self._engine) as connection:
                index = seg.load_payload_index(connection, pending)
            texts: dict[str, tuple[bytes, ...]] = dict.fromkeys(index, ())
            moved: set[str] = set()
            for (location, key), members in seg.members_by_pack(index).items():
                try:
                    found = self._packs.read_member_texts(location, key, [member for _, member in members])
                except NotFoundError:
                    moved.update(trace_id for trace_id, _ in members)
                    continue
                for (trace_id, _), text in zip(members, found, strict=True):
                    texts[trace_id] += (text,)
            for trace_id, where in index.items():
                if trace_id in moved:
                    continue
                if where.legacy_objects:
                    legacy = self._objects.read_spans(where.payload_uri)
                    texts[trace_id] += (orjson.dumps([span.to_dict() for span in legacy], option=_JSON_OPTION),)
                result[trace_id] = texts[trace_id]
            if not moved:
                return result
            pending = list(moved)
        raise StoreError(f"read the spans of {pending[0]}: its payload kept moving while reading")

    def _read(self, trace_ids: Sequence[str], form: _Form[T]) -> dict[str, list[T]]:
        result: dict[str, list[T]] = {}
        pending = list(dict.fromkeys(trace_ids))
        for _ in range(_READ_ATTEMPTS):
            with read_connection(self._engine) as connection:
                index = seg.load_payload_index(connection, pending)
            objects, moved = self._read_indexed(index, form)
            for trace_id, parts in objects.items():
                if trace_id not in moved:
                    result[trace_id] = [form.unwrap(span) for span in order_spans(merge_spans(parts))]
            if not moved:
                return result
            pending = list(moved)
        raise StoreError(f"read the spans of {pending[0]}: its payload kept moving while reading")

    def _read_indexed(
        self, index: dict[str, seg.PayloadIndex], form: _Form[Any]
    ) -> tuple[dict[str, list[list[Any]]], set[str]]:
        """Read every member of the indexed traces; return them by trace, and the traces whose pack moved."""
        by_pack = seg.members_by_pack(index)
        objects: dict[str, list[list[Any]]] = {trace_id: [] for trace_id in index}
        moved: set[str] = set()
        for (location, key), members in by_pack.items():
            try:
                decoded = self._packs.read_members(location, key, [member for _, member in members], form.decode)
            except NotFoundError:
                moved.update(trace_id for trace_id, _ in members)
                continue
            for (trace_id, _), spans in zip(members, decoded, strict=True):
                objects[trace_id].append(form.wrap(spans))
        for trace_id, where in index.items():
            if where.legacy_objects and trace_id not in moved:
                legacy = self._objects.read_spans(where.payload_uri)
                objects[trace_id].append(form.wrap([form.from_span(span) for span in legacy]))
        return objects, moved

    # Deletion ------------------------------------------------------------------------------------

    def delete_packs_after_commit(self, packs: Sequence[tuple[str, str]]) -> None:
        """Delete pack objects that the committed index no longer refers to (logged, never raised)."""
        self._delete_packs(packs)

    def _delete_packs(self, packs: Sequence[tuple[str, str]]) -> None:
        for location, key in packs:
            try:
                self._packs.delete(location, key)
            except StoreError:
                logger.warning("could not delete payload pack %s/%s", location, key, exc_info=True)

    def delete_legacy_objects(self, payload_uris: Sequence[str]) -> None:
        """Delete the per-trace objects of deleted traces written before packs (logged, never raised)."""
        for payload_uri in payload_uris:
            try:
                self._objects.delete_trace(payload_uri)
            except StoreError:
                logger.warning("could not delete the payload objects under %s", payload_uri, exc_info=True)

    def sweep_orphans(self, min_age_s: float = ORPHAN_MIN_AGE_S) -> int:
        """Delete packs older than `min_age_s` that no index row knows: left by a crash mid-write.

        Returns how many were deleted.
        """
        with read_connection(self._engine) as connection:
            locations = list(connection.execute(select(experiments.c.artifact_location).distinct()).scalars())
        cutoff_ns = time.time_ns() - int(min_age_s * 1e9)
        swept = 0
        for location in locations:
            try:
                repository = self._packs.repository(location)
                keys = [key for key in repository.list(PACK_FOLDER + "/") if _pack_time_ns(key) < cutoff_ns]
            except StoreError:
                logger.warning("could not list the packs under %s", location, exc_info=True)
                continue
            if not keys:
                continue
            with read_connection(self._engine) as connection:
                known = seg.known_pack_keys(connection, location, keys)
            orphans = [(location, key) for key in keys if key not in known]
            self._delete_packs(orphans)
            swept += len(orphans)
        return swept


def _pack_time_ns(key: str) -> int:
    """Return the write time in a pack's key, or a huge number if the key is not a pack's (never swept)."""
    name = key.rpartition("/")[2]
    if not name.endswith(PACK_SUFFIX):
        return 1 << 62
    stamp = name.partition("-")[0]
    return int(stamp) if stamp.isdigit() else 1 << 62
