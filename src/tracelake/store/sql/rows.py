"""Conversions between index rows and model objects."""

from __future__ import annotations

import functools
from collections.abc import Iterable, Mapping, Set
from typing import Any, Final

from tracelake.model import Cost, Experiment, Span, StatusCode, TokenUsage, TraceInfo, TraceState

TOKEN_COLUMNS: Final = ("input_tokens", "output_tokens", "total_tokens", "cached_input_tokens", "reasoning_tokens")
COST_COLUMNS: Final = ("input_cost", "output_cost", "total_cost")
USAGE_COLUMNS: Final = TOKEN_COLUMNS + COST_COLUMNS
#: The columns of a `spans` row, in table order.
SPAN_COLUMNS: Final = (
    "trace_id",
    "span_id",
    "experiment_id",
    "parent_span_id",
    "name",
    "span_type",
    "status",
    "start_time_ns",
    "end_time_ns",
    "duration_ns",
    "model_name",
    *USAGE_COLUMNS,
    "counted",
)
# `.value` of an enum member is a Python-level descriptor call; a dict lookup is not.
_STATUS_TEXT: Final = {code: code.value for code in StatusCode}

# PostgreSQL enforces VARCHAR lengths and SQLite does not: index columns are cut to the schema's
# lengths so both behave alike (the payload keeps every value whole).
NAME_MAX = 500
KEY_MAX = 250
SPAN_TYPE_MAX = 100
STATUS_MAX = 16


def clean(value: str) -> str:
    """Replace NUL characters, which PostgreSQL text columns refuse (the payload keeps the original)."""
    return value.replace("\x00", "\ufffd") if "\x00" in value else value


def clip(value: str | None, limit: int) -> str | None:
    """Return `value` without NULs, cut to `limit` characters (None stays None)."""
    if value is None:
        return None
    if "\x00" in value:  # `clean`, inline: this runs for several columns of every span
        value = value.replace("\x00", "\ufffd")
    return value if len(value) <= limit else value[:limit]


def ns_to_ms(value_ns: int) -> int:
    """Convert Unix nanoseconds to milliseconds (floor)."""
    return value_ns // 1_000_000


def usage_values(span: Span) -> dict[str, int | float | None]:
    """Return the span's token and cost columns; None where the span reports no usage or cost."""
    usage, cost = span.token_usage, span.cost
    values: dict[str, int | float | None] = {}
    for name in TOKEN_COLUMNS:
        values[name] = None if usage is None else getattr(usage, name)
    for name in COST_COLUMNS:
        values[name] = None if cost is None else getattr(cost, name)
    return values


class SpanRows:
    """`spans` rows to insert, each leaving out the blocks of columns its span has no value for.

    The sqlite3 driver binds None slowly (see dialect.py), so INSERTs leave NULL columns out. The
    span's fields tell which blocks it lacks (no parent, not ended, no model, no usage, no cost) at
    a fraction of the cost of checking a finished row value by value; a None left inside a block
    (a usage with a None count) is bound as it is, storing the same NULL.
    """

    __slots__ = ("_groups",)

    def __init__(self) -> None:
        # Rows by the blocks they lack (see `_span_row`).
        self._groups: dict[tuple[bool, ...], list[list[Any]]] = {}

    def add(self, span: Span, experiment_id: int, counted: bool) -> None:
        """Add the row of a span."""
        lacks, values = _span_row(span, experiment_id, counted)
        group = self._groups.get(lacks)
        if group is None:
            self._groups[lacks] = [values]
        else:
            group.append(values)

    def extend(self, spans: Iterable[Span], experiment_id: int, counted_ids: Set[str]) -> None:
        """Add the rows of `spans`, those of `counted_ids` counted."""
        for span in spans:
            self.add(span, experiment_id, span.span_id in counted_ids)

    def by_columns(self) -> dict[tuple[str, ...], list[list[Any]]]:
        """Return the rows grouped by the columns they bind, each row its values for those columns."""
        return {_span_columns(*lacks): rows for lacks, rows in self._groups.items()}


def _span_row(span: Span, experiment_id: int, counted: bool) -> tuple[tuple[bool, ...], list[Any]]:
    """Return which blocks of columns a span lacks, and its values for the others (`_span_columns`)."""
    parent_id, start, end, model = span.parent_id, span.start_time_ns, span.end_time_ns, span.model_name
    usage, cost = span.token_usage, span.cost
    values: list[Any] = [span.trace_id, span.span_id, experiment_id]
    if parent_id is not None:
        values.append(parent_id)
    values += (clip(span.name, NAME_MAX), clip(span.span_type, SPAN_TYPE_MAX), _STATUS_TEXT[span.status.code], start)
    if end is not None:
        values += (end, end - start)  # Span.duration_ns, without the property call
    if model is not None:
        values.append(clip(model, KEY_MAX))
    if usage is not None:
        values += (
            usage.input_tokens,
            usage.output_tokens,
            usage.total_tokens,
            usage.cached_input_tokens,
            usage.reasoning_tokens,
        )
    if cost is not None:
        values += (cost.input_cost, cost.output_cost, cost.total_cost)
    values.append(1 if counted else 0)
    return (parent_id is None, end is None, model is None, usage is None, cost is None), values


@functools.cache
def _span_columns(no_parent: bool, unfinished: bool, no_model: bool, no_usage: bool, no_cost: bool) -> tuple[str, ...]:
    """Return the `spans` columns of a row lacking these blocks, in `_span_row`'s order."""
    left_out = set()
    if no_parent:
        left_out.add("parent_span_id")
    if unfinished:
        left_out |= {"end_time_ns", "duration_ns"}
    if no_model:
        left_out.add("model_name")
    if no_usage:
        left_out |= set(TOKEN_COLUMNS)
    if no_cost:
        left_out |= set(COST_COLUMNS)
    return tuple(name for name in SPAN_COLUMNS if name not in left_out)


def span_row(span: Span, experiment_id: int, counted: bool) -> dict[str, Any]:
    """Return the `spans` index row of a span, every column by name."""
    lacks, values = _span_row(span, experiment_id, counted)
    row: dict[str, Any] = dict.fromkeys(SPAN_COLUMNS)
    row.update(zip(_span_columns(*lacks), values, strict=True))
    return row


def experiment_from_row(row: Mapping[Any, Any], tags: Mapping[str, str] | None = None) -> Experiment:
    """Build an `Experiment` from an `experiments` row and its tags."""
    return Experiment(
        experiment_id=str(row["experiment_id"]),
        name=row["name"],
        artifact_location=row["artifact_location"],
        lifecycle_stage=row["lifecycle_stage"],
        creation_time=row["creation_time"],
        last_update_time=row["last_update_time"],
        tags=dict(tags or {}),
    )


def trace_info_from_row(
    row: Mapping[Any, Any], tags: Mapping[str, str] | None = None, metadata: Mapping[str, str] | None = None
) -> TraceInfo:
    """Build a `TraceInfo` from a `traces` row plus its tags and metadata.

    Token usage (cost) is None when no counted span reported any; otherwise missing parts are 0.
    """
    token_usage = None
    if any(row[name] is not None for name in TOKEN_COLUMNS):
        token_usage = TokenUsage(**{name: int(row[name] or 0) for name in TOKEN_COLUMNS})
    cost = None
    if any(row[name] is not None for name in COST_COLUMNS):
        cost = Cost(**{name: float(row[name] or 0.0) for name in COST_COLUMNS})
    return TraceInfo(
        trace_id=row["trace_id"],
        experiment_id=str(row["experiment_id"]),
        request_time=row["request_time"],
        execution_duration=row["execution_duration"],
        state=TraceState(row["state"]),
        name=row["name"],
        request_preview=row["request_preview"],
        response_preview=row["response_preview"],
        client_request_id=row["client_request_id"],
        tags=dict(tags or {}),
        metadata=dict(metadata or {}),
        token_usage=token_usage,
        cost=cost,
        span_count=row["span_count"],
    )
