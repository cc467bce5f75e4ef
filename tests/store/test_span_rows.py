"""The `spans` rows of the write path: grouped by the columns they bind, the same values as by name."""

from __future__ import annotations

import dataclasses
import itertools
from typing import Any

import pytest
import sqlalchemy as sa

from tracelake.exceptions import InvalidArgumentError
from tracelake.model import Cost, Span, SpanStatus, StatusCode, TokenUsage, TraceBatch
from tracelake.store import SqlTraceStore
from tracelake.store.sql.batches import merge_batches
from tracelake.store.sql.rows import SPAN_COLUMNS, SpanRows, span_row
from tracelake.store.sql.schema import spans

from .builders import make_batch, span_id, trace_id


def every_shape(trace: int = 1) -> list[Span]:
    """A span for each combination of parent, end, model, usage and cost present or missing."""
    shapes = itertools.product((False, True), repeat=5)
    return [
        Span(
            trace_id=trace_id(trace),
            span_id=span_id(index + 2),
            parent_id=span_id(1) if parent else None,
            name=f"span-{index}",
            span_type="LLM",
            start_time_ns=1_000 + index,
            end_time_ns=5_000 + index if ended else None,
            status=SpanStatus(StatusCode.OK),
            model_name="gpt-test" if model else None,
            token_usage=TokenUsage(1, 2, 3, 4, 5) if usage else None,
            cost=Cost(0.5, 0.25, 0.75) if cost else None,
        )
        for index, (parent, ended, model, usage, cost) in enumerate(shapes)
    ]


def test_span_columns_are_the_tables() -> None:
    assert tuple(spans.c.keys()) == SPAN_COLUMNS


def test_span_row_names_every_column() -> None:
    span = Span(
        trace_id=trace_id(1),
        span_id=span_id(2),
        parent_id=span_id(1),
        name="a\x00b" + "x" * 600,
        span_type="LLM",
        start_time_ns=1_000,
        end_time_ns=4_000,
        status=SpanStatus(StatusCode.ERROR, "boom"),
        model_name="gpt-test",
        token_usage=TokenUsage(1, 2, 3, 4, 5),
        cost=Cost(0.5, 0.25, 0.75),
    )

    assert span_row(span, 7, True) == {
        "trace_id": trace_id(1),
        "span_id": span_id(2),
        "experiment_id": 7,
        "parent_span_id": span_id(1),
        "name": ("a\ufffdb" + "x" * 600)[:500],
        "span_type": "LLM",
        "status": "ERROR",
        "start_time_ns": 1_000,
        "end_time_ns": 4_000,
        "duration_ns": 3_000,
        "model_name": "gpt-test",
        "input_tokens": 1,
        "output_tokens": 2,
        "total_tokens": 3,
        "cached_input_tokens": 4,
        "reasoning_tokens": 5,
        "input_cost": 0.5,
        "output_cost": 0.25,
        "total_cost": 0.75,
        "counted": 1,
    }
    assert list(span_row(span, 7, False)) == list(SPAN_COLUMNS)


def test_grouped_rows_bind_exactly_the_values_a_span_has() -> None:
    shapes = every_shape()
    rows = SpanRows()
    for index, span in enumerate(shapes):
        rows.add(span, 7, index % 2 == 0)

    grouped: list[dict[str, Any]] = []
    for columns, group in rows.by_columns().items():
        for values in group:
            assert None not in values  # every None column is left out
            grouped.append({**dict.fromkeys(SPAN_COLUMNS), **dict(zip(columns, values, strict=True))})
    expected = [span_row(span, 7, index % 2 == 0) for index, span in enumerate(shapes)]
    assert sorted(grouped, key=lambda row: row["span_id"]) == expected


def test_a_none_inside_a_usage_is_stored_as_null(store: SqlTraceStore, experiment_id: str) -> None:
    span = every_shape()[-1]
    odd = dataclasses.replace(span, token_usage=TokenUsage(1, None, 3))  # type: ignore[arg-type]
    store.write_batches(experiment_id, [TraceBatch(trace_id=trace_id(1), spans=[odd])])

    row = store.execute_read(sa.select(spans.c.input_tokens, spans.c.output_tokens, spans.c.total_tokens))[0]
    assert tuple(row) == (1, None, 3)


def test_spans_of_every_shape_are_stored_as_their_rows(store: SqlTraceStore, experiment_id: str) -> None:
    shapes = every_shape()
    store.write_batches(experiment_id, [make_batch(shapes)])

    stored = [dict(row._mapping) for row in store.execute_read(sa.select(spans).order_by(spans.c.span_id))]
    expected = [span_row(span, int(experiment_id), False) for span in shapes]
    assert stored == expected


@pytest.mark.parametrize("parent", [["not", "hashable"], 5, "x" * 17, "no spaces"])
def test_an_invalid_parent_id_is_refused_whatever_its_type(parent: Any) -> None:
    span = Span(
        trace_id=trace_id(1),
        span_id=span_id(2),
        parent_id=parent,
        name="n",
        span_type="CHAIN",
        start_time_ns=1,
        end_time_ns=2,
        status=SpanStatus(),
    )

    with pytest.raises(InvalidArgumentError, match="invalid parent span id"):
        merge_batches([TraceBatch(trace_id=trace_id(1), spans=[span])])
