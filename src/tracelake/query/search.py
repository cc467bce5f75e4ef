"""`search_traces`: filter, order and page through trace summaries."""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from sqlalchemy import ColumnElement, Select, and_, select

from tracelake.exceptions import QueryError
from tracelake.model import TraceInfo
from tracelake.query import narrowing
from tracelake.query.compile import compile_filter
from tracelake.query.grammar import parse_filter
from tracelake.query.narrowing import Driver, choose_driver, top_level_operands
from tracelake.query.nodes import Expression, unparse
from tracelake.query.order import OrderKey, order_clauses, parse_order_by
from tracelake.query.pagination import decode_token, encode_token, query_fingerprint, rows_after
from tracelake.query.scope import experiment_scope
from tracelake.query.span_window import Window, span_name_windows
from tracelake.store.sql.store import SERIAL_READ

__all__ = ["MAX_RESULTS_LIMIT", "SearchPage", "SearchableStore", "search_traces"]

#: The largest page `search_traces` serves.
MAX_RESULTS_LIMIT = 50_000


class SearchableStore(Protocol):
    """The two reads search needs; every `tracelake.store.TraceStore` provides them."""

    def execute_read(self, statement: Any) -> list[Any]:
        """Run a SELECT over the schema tables and return its rows."""
        ...

    def get_trace_infos(self, trace_ids: Sequence[str]) -> list[TraceInfo]:
        """Return the summaries of the traces that exist among `trace_ids`."""
        ...


@dataclass(frozen=True, slots=True)
class SearchPage:
    """One page of search results.

    Attributes:
        trace_infos: the matching traces of this page, in the requested order.
        next_page_token: pass it back (with the same experiment_ids, filter and order) to get the
            next page; None on the last page.
    """

    trace_infos: list[TraceInfo] = field(default_factory=list)
    next_page_token: str | None = None


def _experiment_ids(experiment_ids: Sequence[str] | str | None) -> list[int] | None:
    if experiment_ids is None:
        return None
    if isinstance(experiment_ids, str):
        experiment_ids = [experiment_ids]
    parsed: list[int] = []
    for experiment_id in experiment_ids:
        text = str(experiment_id).strip()
        if not text.isascii() or not text.isdigit():
            raise QueryError(f"experiment id {experiment_id!r} is not a valid id (ids are numbers, e.g. '1')")
        parsed.append(int(text))
    return parsed


def _check_max_results(max_results: int) -> None:
    if isinstance(max_results, bool) or not isinstance(max_results, int):
        raise QueryError(f"max_results must be an integer, not {type(max_results).__name__}")
    if not 1 <= max_results <= MAX_RESULTS_LIMIT:
        raise QueryError(f"max_results must be between 1 and {MAX_RESULTS_LIMIT}, not {max_results}")


def build_search_statement(
    experiment_ids: list[int] | None,
    where: ColumnElement[bool],
    keys: Sequence[OrderKey],
    after: Sequence[Any] | None,
    limit: int,
    driven: bool = False,
) -> Select[Any]:
    """Return the SELECT of the sort values (the last being trace_id) of one page of matches.

    `driven`: `where` holds a `trace_id IN (<child index lookup>)` condition to start from (see
    `tracelake.query.narrowing`); the traces are then fetched by primary key and sorted, instead
    of walking every trace in order.
    """
    statement = select(*(key.column for key in keys)).where(experiment_scope(experiment_ids, not driven), where)
    if after is not None:
        statement = statement.where(rows_after(keys, after))
    return statement.order_by(*order_clauses(keys)).limit(limit).execution_options(**{SERIAL_READ: True})


def _where(expression: Expression | None, driver: Driver | None) -> ColumnElement[bool]:
    if driver is None:
        return compile_filter(expression)
    operands = top_level_operands(expression)
    return and_(
        *(
            driver.condition if position == driver.position else compile_filter(operand)
            for position, operand in enumerate(operands)
        )
    )


def _costly(driver: Driver | None) -> bool:
    """Whether the plan chosen so far may read many traces: a walk, or a drive from a common value."""
    return driver is None or driver.count > narrowing.ALWAYS_DRIVE


def _first_exact_window(
    store: SearchableStore,
    windows: Iterable[Window],
    keys: Sequence[OrderKey],
    after: Sequence[Any] | None,
    limit: int,
) -> list[tuple[Any, ...]] | None:
    """The page's rows from the first of `windows` that holds it exactly, or None."""
    for window in windows:
        statement = build_search_statement(window.experiment_ids, window.where, keys, after, limit, driven=True)
        rows = [tuple(row) for row in store.execute_read(statement)]
        if window.is_exact(rows, limit):
            return rows
    return None


def search_traces(
    store: SearchableStore,
    experiment_ids: Sequence[str] | None,
    filter_string: str | None = None,
    order_by: Sequence[str] | None = None,
    max_results: int = 100,
    page_token: str | None = None,
) -> SearchPage:
    """Find traces matching a filter, in order, one page at a time.

    Args:
        store: where the traces are: any `TraceStore`.
        experiment_ids: experiments to search; None searches every active experiment.
        filter_string: a filter such as ``status = 'ERROR' AND tags.env = 'prod'``; see
            `parse_filter` for the grammar. None or "" matches every trace.
        order_by: clauses such as ``["execution_time_ms DESC"]``; newest first by default. Ties
            are broken by trace id.
        max_results: page size, 1 to 50,000.
        page_token: `next_page_token` of the previous page of the same query; None or "" for the
            first page.

    Returns:
        The page, with a token for the next one if more traces match.

    Raises:
        QueryError: for a malformed filter, order_by, experiment id, max_results or page token,
            or a token from another query.
    """
    _check_max_results(max_results)
    ids = _experiment_ids(experiment_ids)
    expression = parse_filter(filter_string)
    keys = parse_order_by(order_by)
    fingerprint = query_fingerprint(ids, "" if expression is None else unparse(expression), keys)
    # An empty token is what many HTTP clients send for "first page".
    after = decode_token(page_token, fingerprint, keys) if page_token else None
    if ids is not None and not ids:
        return SearchPage()

    limit = max_results + 1
    # The first window of a span name's newest spans costs a few index reads: tried before
    # counting values to choose a plan, which would cost more than it whenever it applies.
    windows = iter(span_name_windows(store, expression, ids, keys, limit))
    rows = _first_exact_window(store, itertools.islice(windows, 1), keys, after, limit)
    driver = None
    if rows is None:
        driver = choose_driver(store, expression, ids, keys, limit)
        if driver is not None and driver.count == 0:
            return SearchPage()
        if _costly(driver):
            rows = _first_exact_window(store, windows, keys, after, limit)
    if rows is None:
        where = _where(expression, driver)
        statement = build_search_statement(ids, where, keys, after, limit, driven=driver is not None)
        rows = [tuple(row) for row in store.execute_read(statement)]
    page, more = rows[:max_results], len(rows) > max_results
    trace_ids = [str(row[-1]) for row in page]
    by_id = {info.trace_id: info for info in store.get_trace_infos(trace_ids)} if trace_ids else {}
    # A trace deleted between the two reads is simply left out of the page.
    infos = [by_id[trace_id] for trace_id in trace_ids if trace_id in by_id]
    token = encode_token(fingerprint, list(page[-1])) if more else None
    return SearchPage(trace_infos=infos, next_page_token=token)
