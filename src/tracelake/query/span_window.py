"""Newest-first search for a span name, served from that name's newest spans.

`span.name = 'escalate_to_human'` in one trace in a hundred is the case neither other plan serves
well (`tracelake.query.narrowing`): walking traces newest first reads a hundred traces, and their
spans, per match; driving from the name's index entries fetches and sorts all of its traces.

But a trace starts no later than any of its spans (`request_time` is its earliest span's start), so
the spans index `(experiment_id, name, start_time_ns)` bounds where the newest matching traces can
be. Take the name's newest `window` spans, starting at time S or later. A matching trace none of
whose matching spans is among them has every matching span start before S, so the trace itself
started before S. Hence, among the traces of the window's spans (with the rest of the filter and
the page token applied), the first `limit` in newest-first order are the exact answer as soon as
the last of them started at S or later: every trace outside the window ranks below it. When they
do not (the rest of the filter is selective, or a later page is asked for), a larger window is
tried, and past `MAX_WINDOW` the caller falls back to the other plans.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Final

from sqlalchemy import ColumnElement, and_, select

from tracelake.query.compile import compile_filter
from tracelake.query.narrowing import ReadableStore, span_name_equality, top_level_operands
from tracelake.query.nodes import Expression
from tracelake.query.order import OrderKey
from tracelake.query.scope import active_experiments
from tracelake.store.sql.schema import spans, traces
from tracelake.store.sql.store import SERIAL_READ

__all__ = ["MAX_EXPERIMENTS", "MAX_WINDOW", "WINDOW_GROWTH", "Window", "span_name_windows"]

#: Windows tried, in spans per row the page needs: small first, one larger, then give up.
WINDOW_GROWTH: Final = (4, 32)
#: The largest window read: beyond it the other plans are as cheap.
MAX_WINDOW: Final = 20_000
#: A scope of more experiments than this is left to the other plans (one index read each).
MAX_EXPERIMENTS: Final = 20
_NS_PER_MS: Final = 1_000_000


def _span_name_operand(expression: Expression | None) -> tuple[int, str] | None:
    """The position and value of a top-level `span.name = '<value>'`, if the filter has one."""
    for position, operand in enumerate(top_level_operands(expression)):
        name = span_name_equality(operand)
        if name is not None:
            return position, name
    return None


def _window_start(store: ReadableStore, experiment_ids: Sequence[int], name: str, window: int) -> int | None:
    """The start time of the `window`-th newest span named `name` in these experiments; None if fewer."""
    newest: list[int] = []
    for experiment_id in experiment_ids:  # one backwards range of the index per experiment
        statement = (
            select(spans.c.start_time_ns)
            .where(spans.c.experiment_id == experiment_id, spans.c.name == name)
            .order_by(spans.c.start_time_ns.desc())
            .limit(window)
            .execution_options(**{SERIAL_READ: True})
        )
        newest.extend(int(row[0]) for row in store.execute_read(statement))
    if len(newest) < window:
        return None
    newest.sort(reverse=True)
    return newest[window - 1]


@dataclass(frozen=True, slots=True)
class Window:
    """One window of a span name's newest spans, as a search condition.

    Attributes:
        experiment_ids: the experiments searched (resolved when the search named none).
        where: the filter with the span name equality replaced by "the trace has a span of the
            window"; search with it driven (traces fetched by primary key).
        start_ns: the window's earliest span start; None when it holds every span of the name.
    """

    experiment_ids: list[int]
    where: ColumnElement[bool]
    start_ns: int | None

    def is_exact(self, rows: Sequence[Sequence[Any]], limit: int) -> bool:
        """Whether a page searched with `where` (request time first in each row) is the exact one."""
        if self.start_ns is None:
            return True  # nothing is outside the window
        # Traces outside the window started before start_ns, so at most at (start_ns - 1) // 1e6
        # ms: a full page whose last trace started later ranks every one of them below it.
        return len(rows) == limit and rows[-1][0] > (self.start_ns - 1) // _NS_PER_MS


def span_name_windows(
    store: ReadableStore,
    expression: Expression | None,
    experiment_ids: list[int] | None,
    keys: Sequence[OrderKey],
    limit: int,
) -> Iterator[Window]:
    """Yield growing windows for a page of `limit` rows, while this plan applies.

    Nothing is yielded when the order is not newest first, the filter has no top-level span name
    equality, or the scope has more than `MAX_EXPERIMENTS` experiments; none larger than
    `MAX_WINDOW` spans. The caller searches with each until a page `is_exact`, else the usual way.
    """
    first = keys[0]
    found = _span_name_operand(expression)
    if found is None or first.spec.column != "request_time" or not first.descending:
        return
    position, name = found
    if experiment_ids is None:
        experiment_ids = [int(row[0]) for row in store.execute_read(active_experiments())]
    if not experiment_ids or len(experiment_ids) > MAX_EXPERIMENTS:
        return
    operands = top_level_operands(expression)
    for growth in WINDOW_GROWTH:
        window = growth * limit
        if window > MAX_WINDOW:
            return
        start_ns = _window_start(store, experiment_ids, name, window)
        in_window: ColumnElement[bool] = spans.c.name == name
        if start_ns is not None:
            in_window = and_(in_window, spans.c.start_time_ns >= start_ns)
        candidates = select(spans.c.trace_id).where(spans.c.experiment_id.in_(experiment_ids), in_window)
        where = and_(
            *(
                traces.c.trace_id.in_(candidates) if index == position else compile_filter(operand)
                for index, operand in enumerate(operands)
            )
        )
        yield Window(experiment_ids, where, start_ns)
        if start_ns is None:
            return  # a larger window would hold the same spans
