"""Each trace's spans from its stored JSON, and the `spans` table's rows built from them trace by trace.

Why one trace at a time: a batch of 5,000 traces holds 50,000 span dicts with their nested inputs,
outputs and attributes. Parsed all at once and kept until the table was built, every full pass of
the garbage collector walked them all: two fifths of the time of a batch. Parsed one trace at a
time and turned into column values at once (strings and numbers, which the collector does not
track), they die young, in the generation it collects cheaply.
"""

from __future__ import annotations

from collections.abc import Sequence
from operator import itemgetter
from typing import Any

import orjson
import pyarrow as pa

from tracelake.monitoring.archive.schema import SPANS
from tracelake.store.artifacts.payload import merge_spans, order_spans

SpanDict = dict[str, Any]

# How the archive's JSON columns serialise values: orjson, non-string keys written as strings.
JSON_OPTION = orjson.OPT_NON_STR_KEYS
_NO_STATUS: dict[str, str] = {}
_EMPTY_OBJECT = "{}"
_EMPTY_LIST = "[]"
_USAGE = ("input_tokens", "output_tokens", "total_tokens", "cached_input_tokens", "reasoning_tokens")
_COST = ("input_cost", "output_cost", "total_cost")


class _Keys:
    """The keys `merge_spans` and `order_spans` read, over a span dict."""

    __slots__ = ("data", "end_time_ns", "parent_id", "span_id", "start_time_ns")

    def __init__(self, data: SpanDict) -> None:
        self.data = data
        self.span_id: str = data["span_id"]
        self.parent_id: str | None = data.get("parent_id")
        self.start_time_ns: int = data["start_time_ns"]
        self.end_time_ns: int | None = data.get("end_time_ns")


_START_AND_ID = itemgetter("start_time_ns", "span_id")


def _in_store_order(spans: Sequence[SpanDict]) -> bool:
    """True if `order_spans(merge_spans([spans]))` would return `spans` as they are.

    That is so when the span ids are distinct (merging keeps every span) and the list is sorted by
    (start time, span id) with every parent before its children: the order `order_spans` picks,
    the smallest ready span first, is then this one. Compacted traces are stored so.
    """
    ids = {span["span_id"] for span in spans}
    if len(ids) != len(spans):
        return False
    seen: set[str] = set()
    previous: tuple[int, str] | None = None
    for span in spans:
        span_id = span["span_id"]
        key = (span["start_time_ns"], span_id)
        if previous is not None and key <= previous:
            return False
        parent_id = span.get("parent_id")
        if parent_id is not None and parent_id != span_id and parent_id in ids and parent_id not in seen:
            return False
        seen.add(span_id)
        previous = key
    return True


def trace_spans(texts: Sequence[bytes]) -> list[SpanDict]:
    """Parse a trace's stored span texts into its spans: merged and ordered as the store reads them.

    `texts` come from `SqlTraceStore.get_span_texts_of`; the result equals `get_span_dicts_of`'s
    (`merge_spans`, then `order_spans`). Shortcuts for the common cases: a compacted trace is one
    text already in that order; a trace written in one go in another order (children first, as
    exporters send them) is put in it by a plain sort, unless a child starts before its parent.
    """
    objects: list[list[SpanDict]] = [orjson.loads(text) for text in texts]
    if len(objects) == 1 and _in_store_order(objects[0]):
        return objects[0]
    if len(objects) == 1 and len({span["span_id"] for span in objects[0]}) == len(objects[0]):
        spans = objects[0]  # nothing to merge
    else:
        spans = [keys.data for keys in merge_spans([_Keys(span) for span in spans] for spans in objects)]
    by_start = sorted(spans, key=_START_AND_ID)
    if _in_store_order(by_start):
        return by_start
    return [keys.data for keys in order_spans([_Keys(span) for span in spans])]


def root_span(spans: Sequence[SpanDict]) -> SpanDict | None:
    """The trace's root: the first span (in store order) without a parent among the trace's spans."""
    ids = {span["span_id"] for span in spans}
    for span in spans:
        parent_id = span.get("parent_id")
        if parent_id is None or parent_id not in ids:
            return span
    return None


#: The keys of a stored span (`Span.to_dict()`), in the order `_FIELDS` returns their values.
_KEYS = (
    "trace_id",
    "span_id",
    "parent_id",
    "name",
    "span_type",
    "start_time_ns",
    "end_time_ns",
    "status",
    "model_name",
    "token_usage",
    "cost",
    "inputs",
    "outputs",
    "attributes",
    "events",
)
_FIELDS = itemgetter(*_KEYS)
_REQUIRED = frozenset({"trace_id", "span_id", "name", "start_time_ns"})
#: What a span dict lacking an optional key is read with (every stored span has them all).
_ABSENT: dict[str, None] = {key: None for key in _KEYS if key not in _REQUIRED}
_NO_USAGE = (None,) * len(_USAGE)
_NO_COST = (None,) * len(_COST)
#: The columns of a `SpanRows` row, in order; the usage and cost columns are one tuple each.
_ROW = (
    "trace_id",
    "span_id",
    "parent_span_id",
    "name",
    "span_type",
    "status_code",
    "status_message",
    "start_time_ns",
    "end_time_ns",
    "model_name",
    "(usage)",
    "(cost)",
    "inputs",
    "outputs",
    "attributes",
    "events",
)


class SpanRows:
    """The `spans` table of a batch, filled one trace at a time.

    Each span becomes one tuple of its column values (one append instead of one per column), split
    into columns at the end. JSON columns hold `str`: keeping orjson's `bytes` instead costs ten
    times the decode, since each is allocated with room to grow and shrunk in place, which
    fragments the heap when many are kept.
    """

    def __init__(self) -> None:
        self._rows: list[tuple[Any, ...]] = []
        self._experiment_ids: list[str] = []
        self._days: list[int] = []

    def add(self, experiment_id: str, day: int, spans: Sequence[SpanDict]) -> None:
        """Add the rows of one trace's spans (in partition `day`)."""
        self._experiment_ids.extend([experiment_id] * len(spans))
        self._days.extend([day] * len(spans))
        append = self._rows.append
        dumps, option = orjson.dumps, JSON_OPTION
        for span in spans:
            try:
                fields = _FIELDS(span)
            except KeyError:
                fields = _FIELDS({**_ABSENT, **span})  # still raises KeyError without a required key
            (
                trace_id,
                span_id,
                parent_id,
                name,
                span_type,
                start,
                end,
                status,
                model_name,
                usage,
                cost,
                inputs,
                outputs,
                attributes,
                events,
            ) = fields
            status = status or _NO_STATUS
            append(
                (
                    trace_id,
                    span_id,
                    parent_id,
                    name,
                    span_type or "UNKNOWN",
                    status.get("code", "UNSET"),
                    status.get("message", ""),
                    start,
                    end,
                    model_name,
                    _NO_USAGE if usage is None else tuple(map(usage.get, _USAGE)),
                    _NO_COST if cost is None else tuple(map(cost.get, _COST)),
                    None if inputs is None else dumps(inputs, option=option).decode(),
                    None if outputs is None else dumps(outputs, option=option).decode(),
                    dumps(attributes, option=option).decode() if attributes else _EMPTY_OBJECT,
                    dumps(events, option=option).decode() if events else _EMPTY_LIST,
                )
            )

    def table(self, now_us: int) -> pa.Table:
        """Return the rows added so far as an Arrow table of the `spans` schema."""
        # Column by column with `itemgetter` (`zip(*rows)` would make an iterator per row, tens of
        # thousands of objects for the garbage collector at once).
        columns = {name: list(map(itemgetter(index), self._rows)) for index, name in enumerate(_ROW)}
        usages, costs = columns.pop("(usage)"), columns.pop("(cost)")
        columns.update({name: list(map(itemgetter(index), usages)) for index, name in enumerate(_USAGE)})
        columns.update({name: list(map(itemgetter(index), costs)) for index, name in enumerate(_COST)})
        starts, ends = columns["start_time_ns"], columns["end_time_ns"]
        columns["start_time"] = [start // 1000 for start in starts]
        columns["end_time"] = [None if end is None else end // 1000 for end in ends]
        columns["duration_ms"] = [
            None if end is None else (end - start) / 1e6 for start, end in zip(starts, ends, strict=True)
        ]
        columns["experiment_id"] = self._experiment_ids
        columns["date"] = self._days
        columns["archived_time"] = [now_us] * len(self._rows)
        return pa.Table.from_arrays([pa.array(columns[field.name], field.type) for field in SPANS], schema=SPANS)
