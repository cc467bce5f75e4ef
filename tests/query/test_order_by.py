from __future__ import annotations

import pytest
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

from tracelake.exceptions import QueryError
from tracelake.query import parse_order_by
from tracelake.query.order import order_clauses
from tracelake.store.sql.schema import traces


def spelled(order_by: list[str] | str | None) -> list[tuple[str, bool]]:
    return [(key.spec.name, key.descending) for key in parse_order_by(order_by)]


@pytest.mark.parametrize("order_by", [None, []])
def test_default_is_newest_first_then_trace_id(order_by: list[str] | None) -> None:
    assert spelled(order_by) == [("timestamp_ms", True), ("trace_id", False)]


@pytest.mark.parametrize(
    ("order_by", "expected"),
    [
        (["timestamp_ms DESC"], [("timestamp_ms", True), ("trace_id", False)]),
        (["timestamp"], [("timestamp_ms", False), ("trace_id", False)]),
        (["execution_time_ms"], [("execution_time_ms", False), ("trace_id", False)]),
        (["execution_time desc"], [("execution_time_ms", True), ("trace_id", False)]),
        (["name ASC", "status"], [("name", False), ("status", False), ("trace_id", False)]),
        (["trace.status DESC"], [("status", True), ("trace_id", False)]),
        (["attributes.total_tokens"], [("total_tokens", False), ("trace_id", False)]),
        (["cost DESC"], [("total_cost", True), ("trace_id", False)]),
        (["total_cost", "tokens DESC"], [("total_cost", False), ("total_tokens", True), ("trace_id", False)]),
        (["trace_id DESC"], [("trace_id", True)]),
        (["request_id"], [("trace_id", False)]),
        # trace_id is unique, so keys after it cannot matter and are dropped
        (["name", "trace_id DESC", "timestamp"], [("name", False), ("trace_id", True)]),
        ("  timestamp_ms   DESC  ", [("timestamp_ms", True), ("trace_id", False)]),
        (["end_time_ms DESC"], [("end_time_ms", True), ("trace_id", False)]),
    ],
)
def test_clauses(order_by: list[str] | str, expected: list[tuple[str, bool]]) -> None:
    assert spelled(order_by) == expected


@pytest.mark.parametrize(
    ("order_by", "message", "position"),
    [
        (["timestamp_ms DESC", "nmae"], "order_by[1]: unknown field 'nmae' (did you mean 'name'?)", 0),
        (["timestamp_ms DOWN"], "order_by[0]: expected ASC, DESC or the end, found 'DOWN'", 13),
        (["timestamp_ms DESC LIMIT"], "order_by[0]: unexpected 'LIMIT' after DESC", 18),
        (["timestamp_ms DESC, name"], "unexpected ','", 17),
        (["tags.env"], "order_by[0]: cannot order by 'tags.env'", 0),
        (["span.name"], "cannot order by 'span.name'", 0),
        (["'name'"], "order_by[0]: expected a field name", 0),
        (["name; DROP TABLE traces"], "unexpected character ';'", 4),
        (["timestamp", "timestamp_ms DESC"], "order_by[1]: timestamp_ms is already in order_by", 0),
        ([""], "order_by[0] is empty", 0),
        (["name", "   "], "order_by[1] is empty", 0),
        (["name ASC DESC"], "unexpected 'DESC' after ASC", 9),
    ],
)
def test_errors(order_by: list[str], message: str, position: int) -> None:
    with pytest.raises(QueryError) as caught:
        parse_order_by(order_by)
    assert message in str(caught.value)
    assert caught.value.position == position


def test_non_string_clause() -> None:
    with pytest.raises(QueryError, match=r"order_by\[0\] must be a string, not int"):
        parse_order_by([5])  # type: ignore[list-item]


def test_nulls_last_only_on_nullable_columns() -> None:
    terms = order_clauses(parse_order_by(["execution_time_ms DESC", "timestamp"]))
    dialect = postgresql.dialect()  # type: ignore[no-untyped-call]
    sql = str(sa.select(traces.c.trace_id).order_by(*terms).compile(dialect=dialect))
    assert "ORDER BY traces.execution_duration DESC NULLS LAST, traces.request_time ASC, traces.trace_id ASC" in sql
