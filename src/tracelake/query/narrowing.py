"""Drive a search from a rare value's index entries instead of walking every trace in order.

A page of search walks traces in the requested order (newest first, by an index) and tests the
filter on each until the page is full. That costs about `page size / f` traces for a value found
in a fraction f of them: nothing for a common value, most of the experiment for a rare one (the
one user, the tool called once in a hundred traces). The child tables have indexes on exactly
these values (tags and metadata by key and value; spans by experiment, name and start time), so a
search can instead start from the `c` traces a value allows — read each entry's row for its trace
id, fetch the traces by primary key and sort them — which costs about `c`, however the traces are
ordered. (The indexes leave the trace id out so that a new trace's rows are appended to them rather
than scattered: see migration 0009.)

For each equality that every match must satisfy (a top-level AND operand on a tag, a metadata key
or a span name), the index entries are counted, up to `DRIVE_LIMIT + 1` (an index-only read).
The smallest count `c` decides:

- `c <= ALWAYS_DRIVE`: drive from that value; the walk can hardly be cheaper.
- `c > DRIVE_LIMIT`: the value is common; walk.
- in between, when traces are walked by time (the default order), the walk costs `page / f` steps
  and driving `c` fetches by primary key (`DRIVE_COST` steps each): the first `SAMPLE_SIZE` traces
  in walk order estimate f, and the cheaper plan is taken. Near the break-even point either
  choice costs about the same. When the order is on a column with no index, the walk sorts every
  trace anyway, so the search drives.

Driving replaces that operand of the filter by `trace_id IN (<index lookup>)`, which holds for
exactly the same traces (a span's experiment is its trace's), so results and pages are the same.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Final, Protocol

from sqlalchemy import ColumnElement, Select, func, literal, select

from tracelake.query.fields import FieldKind, Operator
from tracelake.query.nodes import And, Comparison, Expression
from tracelake.query.order import OrderKey
from tracelake.query.scope import active_experiments, experiment_scope
from tracelake.store.sql.rows import KEY_MAX
from tracelake.store.sql.schema import spans, trace_metadata, trace_tags, traces
from tracelake.store.sql.store import SERIAL_READ

__all__ = [
    "ALWAYS_DRIVE",
    "DRIVE_LIMIT",
    "SAMPLE_SIZE",
    "Driver",
    "choose_driver",
    "span_name_equality",
    "top_level_operands",
]

#: A value with at most this many index entries always drives the search.
ALWAYS_DRIVE: Final = 2000
#: A value with more index entries than this is common: the search walks in order.
DRIVE_LIMIT: Final = 20_000
#: How many traces, in walk order, estimate how often a value occurs.
SAMPLE_SIZE: Final = 500
#: What fetching one trace by primary key costs, in steps of the walk (measured on SQLite at a
#: million traces: random reads against the walk's sequential ones).
DRIVE_COST: Final = 5


class ReadableStore(Protocol):
    def execute_read(self, statement: Any) -> list[Any]: ...


@dataclass(frozen=True, slots=True)
class Driver:
    """The filter operand a search starts from, and the condition that replaces it.

    Attributes:
        position: the operand's index among the top-level AND operands of the filter.
        condition: `traces.trace_id IN (...)` over the child table's index, equivalent to it.
        count: how many index entries the value has (at most `DRIVE_LIMIT`); 0: nothing matches.
    """

    position: int
    condition: ColumnElement[bool]
    count: int


def top_level_operands(expression: Expression | None) -> Sequence[Expression]:
    """The operands that every match must satisfy: those of a top-level AND, or the whole filter."""
    if expression is None:
        return ()
    return expression.operands if isinstance(expression, And) else (expression,)


def span_name_equality(operand: Expression) -> str | None:
    """The value of `operand` if it is `span.name = '<value>'`, else None."""
    if (
        isinstance(operand, Comparison)
        and operand.op is Operator.EQ
        and isinstance(operand.value, str)
        and operand.field.kind is FieldKind.SPAN
        and operand.field.spec.column == "name"
    ):
        return operand.value
    return None


def _lookup(operand: Expression, experiment_ids: list[int] | None) -> Select[Any] | None:
    """The child-table index lookup of the traces an equality allows, or None if it has none."""
    if not isinstance(operand, Comparison) or operand.op is not Operator.EQ or not isinstance(operand.value, str):
        return None
    field, value = operand.field, operand.value
    if field.kind in (FieldKind.TAG, FieldKind.METADATA) and field.key is not None and len(field.key) <= KEY_MAX:
        table = trace_tags if field.kind is FieldKind.TAG else trace_metadata
        return select(table.c.trace_id).where(table.c.key == field.key, table.c.value == value)
    if span_name_equality(operand) is not None:
        # The spans index leads with the experiment: scope the lookup so that it can use it.
        scope = spans.c.experiment_id.in_(active_experiments() if experiment_ids is None else experiment_ids)
        return select(spans.c.trace_id).where(scope, spans.c.name == value)
    return None


def _count(store: ReadableStore, lookup: Select[Any]) -> int:
    # Selecting a constant, not the trace id, keeps the count inside the index: neither the tag and
    # metadata indexes nor the spans' name index hold the trace id.
    entries = lookup.with_only_columns(literal(1), maintain_column_froms=True)
    capped = entries.limit(DRIVE_LIMIT + 1).subquery()
    statement = select(func.count()).select_from(capped).execution_options(**{SERIAL_READ: True})
    return int(store.execute_read(statement)[0][0])


def _walk_is_cheaper(
    store: ReadableStore, lookup: Select[Any], count: int, experiment_ids: list[int] | None, page: int, first: OrderKey
) -> bool:
    """Whether walking in time order finds `page` matches in fewer traces than the `count` driving reads."""
    column = traces.c.request_time
    sample = (
        select(traces.c.trace_id)
        .where(experiment_scope(experiment_ids))
        .order_by(column.desc() if first.descending else column.asc())
        .limit(SAMPLE_SIZE)
        .correlate(None)  # its own walk of `traces`, not the outer row
    )
    inside = lookup.where(lookup.selected_columns[0] == traces.c.trace_id).exists()
    statement = (
        select(func.count())
        .select_from(traces)
        .where(traces.c.trace_id.in_(sample), inside)
        .execution_options(**{SERIAL_READ: True})
    )
    found = int(store.execute_read(statement)[0][0])
    # The walk reads about page * SAMPLE_SIZE / found traces, in index order; driving reads `count`
    # traces by primary key, scattered over the table, each costing several steps of the walk.
    return found * count * DRIVE_COST >= page * SAMPLE_SIZE


def choose_driver(
    store: ReadableStore,
    expression: Expression | None,
    experiment_ids: list[int] | None,
    keys: Sequence[OrderKey],
    page: int,
) -> Driver | None:
    """Return the operand to drive the search from (see the module doc), or None to walk in order.

    Args:
        store: where to count.
        expression: the parsed filter.
        experiment_ids: the experiments searched (None: every active one).
        keys: the search's order.
        page: how many matches the search needs (page size + 1).
    """
    best: tuple[int, Select[Any], int] | None = None
    for position, operand in enumerate(top_level_operands(expression)):
        lookup = _lookup(operand, experiment_ids)
        if lookup is None:
            continue
        count = _count(store, lookup)
        if count <= DRIVE_LIMIT and (best is None or count < best[2]):
            best = (position, lookup, count)
            if count == 0:
                break  # nothing can match
    if best is None:
        return None
    position, lookup, count = best
    by_time = keys[0].spec.column == "request_time"
    if count > ALWAYS_DRIVE and by_time and _walk_is_cheaper(store, lookup, count, experiment_ids, page, keys[0]):
        return None
    return Driver(position, traces.c.trace_id.in_(lookup), count)
