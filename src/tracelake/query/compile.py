"""Filter AST → a SQLAlchemy Core boolean over the `traces` table.

Every literal from the filter becomes a bound parameter; no part of the filter string is ever
spliced into SQL text. Tag, metadata and span conditions are correlated EXISTS subqueries, so a
condition on one key never multiplies trace rows and each condition is answered by a primary-key
lookup on (trace_id, …).
"""

from __future__ import annotations

import json
import operator
from typing import Any

from sqlalchemy import ColumnElement, Float, String, and_, exists, literal, not_, or_, true
from sqlalchemy.types import BigInteger, TypeEngine

from tracelake.query.fields import FieldKind, Operator
from tracelake.query.grammar import parse_filter
from tracelake.query.nodes import And, Comparison, Expression, Or, Scalar
from tracelake.query.patterns import case_insensitive_like, case_sensitive_like
from tracelake.store.sql.schema import assessments, spans, trace_metadata, trace_tags, traces

__all__ = ["compile_filter"]


def compile_filter(expression: Expression | str | None) -> ColumnElement[bool]:
    """Turn a filter into a WHERE clause over `tracelake.store.sql.schema.traces`.

    Args:
        expression: a parsed filter (from `parse_filter`), a filter string, or None.

    Returns:
        A boolean SQL expression, with every value bound as a parameter. No filter gives TRUE.

    Raises:
        QueryError: if `expression` is a string that does not parse.

    Semantics worth knowing:
        - A comparison on a missing value is false: `name != 'x'` skips traces without a name,
          and `tags.k != 'v'` means "has tag k, with another value". Use `IS NULL` for absence.
        - Each `span.*` condition asks whether *some* span of the trace matches it, independently
          of the other span conditions.
        - LIKE is case-sensitive and ILIKE case-insensitive on every database.
    """
    if isinstance(expression, str):
        expression = parse_filter(expression)
    if expression is None:
        return true()
    return _compile(expression)


def _compile(expression: Expression) -> ColumnElement[bool]:
    if isinstance(expression, And):
        return and_(*(_compile(operand) for operand in expression.operands))
    if isinstance(expression, Or):
        return or_(*(_compile(operand) for operand in expression.operands))
    return _comparison(expression)


def _comparison(comparison: Comparison) -> ColumnElement[bool]:
    field, op, value = comparison.field, comparison.op, comparison.value
    if field.kind is FieldKind.ATTRIBUTE:
        return _predicate(traces.c[field.spec.column], op, value)
    if field.kind is FieldKind.SPAN:
        column = spans.c[field.spec.column]
        same_trace = spans.c.trace_id == traces.c.trace_id
        if field.spec.column == "name" and op in (Operator.EQ, Operator.IN):
            # Always true (a span's experiment is its trace's), and it lets the test be one lookup in
            # the (experiment, name, trace) index instead of reading every span of the trace.
            same_trace = and_(same_trace, spans.c.experiment_id == traces.c.experiment_id)
        return exists().where(same_trace, _predicate(column, op, value))
    if field.kind is FieldKind.FEEDBACK:
        return _feedback(field.key or "", op, value)
    table = trace_tags if field.kind is FieldKind.TAG else trace_metadata
    has_key = exists().where(table.c.trace_id == traces.c.trace_id, table.c.key == literal(field.key, String()))
    if op is Operator.IS_NULL:
        return not_(has_key)
    if op is Operator.IS_NOT_NULL:
        return has_key
    return has_key.where(_predicate(table.c.value, op, value))


def _feedback(name: str, op: Operator, value: Scalar | tuple[Scalar, ...] | None) -> ColumnElement[bool]:
    # Some feedback of that name (with a value, not an error) matches: a trace judged by a scorer
    # and by a user has two. Numbers compare with `numeric_value` (bools are 1 and 0); strings with
    # the stored JSON text, so 'yes' matches the value "yes" and 'true' the value true.
    has_name = exists().where(
        assessments.c.trace_id == traces.c.trace_id,
        assessments.c.name == literal(name, String()),
        assessments.c.kind == literal("feedback", String()),
        assessments.c.error.is_(None),
    )
    if op is Operator.IS_NULL:
        return not_(has_name)
    if op is Operator.IS_NOT_NULL:
        return has_name
    if op in (Operator.LIKE, Operator.ILIKE):
        pattern = f'"{value}"'  # the JSON text of a string is the string between double quotes
        like = case_sensitive_like if op is Operator.LIKE else case_insensitive_like
        return has_name.where(like(assessments.c.value, pattern))
    items = value if isinstance(value, tuple) else (value,)
    matches = or_(*(_feedback_equals(item) for item in items if item is not None))
    if op is Operator.IN:
        return has_name.where(matches)
    if op is Operator.NOT_IN:
        return has_name.where(not_(matches))
    single = items[0]
    if single is None:  # the parser gives every other operator a value
        raise ValueError(f"{op.value} needs a value")
    if isinstance(single, str):
        equal = _feedback_equals(single)
        return has_name.where(equal if op is Operator.EQ else not_(equal))
    result: ColumnElement[bool] = _COMPARE[op](assessments.c.numeric_value, _bind(single))
    return has_name.where(assessments.c.numeric_value.is_not(None), result)


def _feedback_equals(item: Scalar) -> ColumnElement[bool]:
    if not isinstance(item, str):
        # Guarded so NOT IN stays true, not NULL, for a string value compared with a number.
        return and_(assessments.c.numeric_value.is_not(None), assessments.c.numeric_value == _bind(item))
    texts = [json.dumps(item, ensure_ascii=False)]
    if item in ("true", "false"):
        texts.append(item)
    return assessments.c.value.in_([literal(text, String()) for text in texts])


_COMPARE = {
    Operator.EQ: operator.eq,
    Operator.NE: operator.ne,
    Operator.LT: operator.lt,
    Operator.LE: operator.le,
    Operator.GT: operator.gt,
    Operator.GE: operator.ge,
}


def _bind(value: Scalar) -> ColumnElement[Any]:
    # The parameter's type follows the literal, not the column: a float compared with an integer
    # column must stay a float (1.5 > 1 is true; binding it as BIGINT would truncate it).
    kind: TypeEngine[Any]
    if isinstance(value, str):
        kind = String()
    elif isinstance(value, float):
        kind = Float()
    else:
        kind = BigInteger()
    return literal(value, kind)


def _predicate(
    column: ColumnElement[Any], op: Operator, value: Scalar | tuple[Scalar, ...] | None
) -> ColumnElement[bool]:
    if op is Operator.IS_NULL:
        return column.is_(None)
    if op is Operator.IS_NOT_NULL:
        return column.is_not(None)
    if isinstance(value, tuple):
        binds = [_bind(item) for item in value]
        return column.in_(binds) if op is Operator.IN else column.not_in(binds)
    if value is None:  # the parser gives every other operator a value
        raise ValueError(f"{op.value} needs a value")
    if op is Operator.LIKE:
        return case_sensitive_like(column, str(value))
    if op is Operator.ILIKE:
        return case_insensitive_like(column, str(value))
    result: ColumnElement[bool] = _COMPARE[op](column, _bind(value))
    return result
