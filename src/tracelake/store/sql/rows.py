"""Conversions between index rows and model objects."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from tracelake.model import Cost, Experiment, Span, StatusCode, TokenUsage, TraceInfo, TraceState

TOKEN_COLUMNS: Final = ("input_tokens", "output_tokens", "total_tokens", "cached_input_tokens", "reasoning_tokens")
COST_COLUMNS: Final = ("input_cost", "output_cost", "total_cost")
USAGE_COLUMNS: Final = TOKEN_COLUMNS + COST_COLUMNS
_NO_USAGE: Final[dict[str, int | float | None]] = dict.fromkeys(USAGE_COLUMNS)
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
    value = clean(value)
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


def span_row(span: Span, experiment_id: int, counted: bool) -> dict[str, Any]:
    """Return the `spans` index row of a span."""
    row: dict[str, Any] = {
        "trace_id": span.trace_id,
        "span_id": span.span_id,
        "experiment_id": experiment_id,
        "parent_span_id": span.parent_id,
        "name": clip(span.name, NAME_MAX),
        "span_type": clip(span.span_type, SPAN_TYPE_MAX),
        "status": _STATUS_TEXT[span.status.code],
        "start_time_ns": span.start_time_ns,
        "end_time_ns": span.end_time_ns,
        "duration_ns": span.duration_ns,
        "model_name": clip(span.model_name, KEY_MAX),
        "counted": 1 if counted else 0,
    }
    # Most spans report no usage: skip building their (all-None) usage values one by one.
    row.update(_NO_USAGE if span.token_usage is None and span.cost is None else usage_values(span))
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
