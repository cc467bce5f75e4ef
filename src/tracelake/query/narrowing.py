"""Narrow a search to the few traces a rare value allows, before walking traces in order.

A page of search walks traces in the requested order (newest first, by an index) and tests the
filter on each until the page is full. For a common value that stops early; for a rare one — the
one user, the span name of a tool called once in a hundred traces — it walks most of the
experiment: seconds at a million traces. The child tables have indexes on exactly these values
(tags and metadata by key and value, spans by experiment and name), so each equality of the filter
that must hold (a top-level AND operand) is first looked up there, reading at most `PROBE_LIMIT + 1`
index entries. If one of them allows at most `PROBE_LIMIT` traces, the search is restricted to
those ids (the filter still applies in full, so the result is the same); if none does, the value
is common and the ordered walk is already fast.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Final, Protocol

from sqlalchemy import ColumnElement, Select, select

from tracelake.query.fields import FieldKind, Operator
from tracelake.query.nodes import And, Comparison, Expression
from tracelake.store.sql.rows import KEY_MAX
from tracelake.store.sql.schema import experiments, spans, trace_metadata, trace_tags

#: The most trace ids a narrowed search is restricted to (bound parameters of one IN list).
PROBE_LIMIT: Final = 2000


class ReadableStore(Protocol):
    def execute_read(self, statement: Any) -> list[Any]: ...


def _probes(expression: Expression | None, experiment_ids: list[int] | None) -> list[Select[Any]]:
    """One index lookup per equality that every match must satisfy."""
    if expression is None:
        return []
    operands: Sequence[Expression] = expression.operands if isinstance(expression, And) else (expression,)
    probes: list[Select[Any]] = []
    for operand in operands:
        if not isinstance(operand, Comparison) or operand.op is not Operator.EQ or not isinstance(operand.value, str):
            continue
        field, value = operand.field, operand.value
        if field.kind in (FieldKind.TAG, FieldKind.METADATA) and field.key is not None and len(field.key) <= KEY_MAX:
            table = trace_tags if field.kind is FieldKind.TAG else trace_metadata
            probes.append(select(table.c.trace_id).where(table.c.key == field.key, table.c.value == value))
        elif field.kind is FieldKind.SPAN and field.spec.column == "name":
            # The spans index leads with the experiment: scope the lookup so it can use it.
            scope: ColumnElement[bool]
            if experiment_ids is None:
                active = select(experiments.c.experiment_id).where(experiments.c.lifecycle_stage == "active")
                scope = spans.c.experiment_id.in_(active)
            else:
                scope = spans.c.experiment_id.in_(experiment_ids)
            probes.append(select(spans.c.trace_id).where(scope, spans.c.name == value).distinct())
    return probes


def candidate_trace_ids(
    store: ReadableStore, expression: Expression | None, experiment_ids: list[int] | None
) -> list[str] | None:
    """Return the trace ids a rare required value allows (at most `PROBE_LIMIT`), or None to walk normally."""
    best: list[str] | None = None
    for probe in _probes(expression, experiment_ids):
        ids = [str(row[0]) for row in store.execute_read(probe.limit(PROBE_LIMIT + 1))]
        if len(ids) <= PROBE_LIMIT and (best is None or len(ids) < len(best)):
            best = ids
            if not best:
                break  # nothing can match
    return best
