"""Recompute the costs of stored traces after prices change.

The store does not know prices (`ingest` does, and the store may not import it): the caller passes
`price(span) -> Cost | None`. For each trace of the experiment that has a span with a model and
token usage, the spans are read from the payload and priced again. Where a cost changed, the
repriced spans are written as one new pack member, and one transaction (the trace's row locked as
writers lock it) points the trace at that member instead of its old ones, sets the spans' cost
columns and sums the trace's totals again over its counted spans. The payload and the index so
change together; a trace that gained spans since it was read is left for the next run (it is
reported in `retry_trace_ids`). Running it again changes nothing more.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, Engine, and_, bindparam, exists, func, select, update

from tracelake.exceptions import StoreError
from tracelake.model import Cost, Experiment, Span
from tracelake.store.artifacts.packs import PayloadPacks, new_pack_key
from tracelake.store.sql import segments as seg
from tracelake.store.sql.engine import read_connection, write_transaction
from tracelake.store.sql.payload_io import PayloadIO
from tracelake.store.sql.rows import COST_COLUMNS
from tracelake.store.sql.schema import spans, traces
from tracelake.store.sql.write import record_pack

_logger = logging.getLogger(__name__)

#: Prices a stored span: its new cost, or None for "no cost" (unknown model).
PriceFunction = Callable[[Span], Cost | None]

_PAGE = 200
_UPDATE_SPAN_COST = update(spans).where(
    (spans.c.trace_id == bindparam("b_trace_id")) & (spans.c.span_id == bindparam("b_span_id"))
)


@dataclass(slots=True)
class CostRecomputation:
    """What a recompute did."""

    traces_checked: int = 0
    """Traces with at least one span with a model and token usage."""
    traces_changed: int = 0
    spans_changed: int = 0
    retry_trace_ids: list[str] = dataclasses.field(default_factory=list)
    """Traces that changed while being repriced, or whose payload could not be read or written:
    run again to complete them."""

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (the REST API's response)."""
        return dataclasses.asdict(self)


def priced_traces(engine: Engine, experiment_id: int, since_ms: int | None) -> Iterator[tuple[str, str]]:
    """Yield (trace id, payload URI) of the experiment's traces that have an LLM span with usage, by id."""
    has_usage = exists().where(
        and_(spans.c.trace_id == traces.c.trace_id, spans.c.model_name.is_not(None), spans.c.total_tokens.is_not(None))
    )
    condition = and_(traces.c.experiment_id == experiment_id, has_usage)
    if since_ms is not None:
        condition = and_(condition, traces.c.request_time >= since_ms)
    after = ""
    while True:
        query = (
            select(traces.c.trace_id, traces.c.payload_uri)
            .where(condition, traces.c.trace_id > after)
            .order_by(traces.c.trace_id)
            .limit(_PAGE)
        )
        with read_connection(engine) as connection:
            page = [(row[0], row[1]) for row in connection.execute(query)]
        yield from page
        if len(page) < _PAGE:
            return
        after = page[-1][0]


def changed_costs(stored: Sequence[Span], price: PriceFunction) -> dict[str, Cost | None]:
    """Return the new cost of every span whose cost `price` changes."""
    changes: dict[str, Cost | None] = {}
    for span in stored:
        if span.token_usage is None or span.model_name is None:
            continue
        cost = price(span)
        if cost != span.cost:
            changes[span.span_id] = cost
    return changes


def recompute(
    engine: Engine,
    packs: PayloadPacks,
    payload_io: PayloadIO,
    write_lock: Callable[[], AbstractContextManager[Any]],
    experiment: Experiment,
    price: PriceFunction,
    since_ms: int | None,
) -> CostRecomputation:
    """Reprice the LLM spans of an experiment's traces (see the module docstring)."""
    result = CostRecomputation()
    for trace_id, _ in priced_traces(engine, int(experiment.experiment_id), since_ms):
        result.traces_checked += 1
        try:
            changed = _rewrite_trace(
                engine, packs, payload_io, write_lock, experiment.artifact_location, trace_id, price
            )
        except StoreError:
            _logger.warning("could not recompute the costs of trace %s", trace_id, exc_info=True)
            changed = None
        if changed is None:
            result.retry_trace_ids.append(trace_id)
        elif changed:
            result.traces_changed += 1
            result.spans_changed += changed
    return result


def _rewrite_trace(
    engine: Engine,
    packs: PayloadPacks,
    payload_io: PayloadIO,
    write_lock: Callable[[], AbstractContextManager[Any]],
    location: str,
    trace_id: str,
    price: PriceFunction,
) -> int | None:
    """Reprice one trace's spans and store the result; return how many spans changed.

    Returns None when the trace changed while it was being repriced (nothing is written then).
    """
    with read_connection(engine) as connection:
        where = seg.load_payload_index(connection, [trace_id]).get(trace_id)
    stored = payload_io.read_spans([trace_id]).get(trace_id)
    if where is None or stored is None:
        return None
    members_before = frozenset(segment.pack_id for segment in where.segments)
    now_ms = time.time_ns() // 1_000_000
    costs = changed_costs(stored, price)
    if not costs:
        return 0
    key = new_pack_key()
    ranges, size = packs.start_write(location, key, [with_costs(stored, costs)]).finish()
    released: list[tuple[str, str]] = []
    written = False
    try:
        with write_lock(), write_transaction(engine) as connection:
            connection.execute(select(traces.c.trace_id).where(traces.c.trace_id == trace_id).with_for_update()).all()
            now = seg.load_payload_index(connection, [trace_id]).get(trace_id)
            if now is None or frozenset(segment.pack_id for segment in now.segments) != members_before:
                return None  # deleted, or spans arrived since the read: next run
            seg.delete_segments(connection, trace_id, members_before)
            record_pack(connection, location, key, size, now_ms, [(trace_id, stored)], ranges)
            released = seg.release_packs(connection, members_before)
            rows = [
                {"b_trace_id": trace_id, "b_span_id": span_id, **_cost_values(cost)} for span_id, cost in costs.items()
            ]
            connection.execute(_UPDATE_SPAN_COST, rows)
            _sum_totals(connection, trace_id, now_ms)
            written = True
    finally:
        for pack in released if written else [(location, key)]:
            with contextlib.suppress(StoreError):
                packs.delete(*pack)
    return len(costs)


def _cost_values(cost: Cost | None) -> dict[str, float | None]:
    return {name: None if cost is None else getattr(cost, name) for name in COST_COLUMNS}


def _sum_totals(connection: Connection, trace_id: str, now_ms: int) -> None:
    # SUM over no non-NULL value is NULL: a trace none of whose counted spans has a cost has none.
    sums = select(*(func.sum(spans.c[name]) for name in COST_COLUMNS)).where(
        spans.c.trace_id == trace_id, spans.c.counted == 1
    )
    values = connection.execute(sums).one()
    totals: dict[str, Any] = dict(zip(COST_COLUMNS, values, strict=True))
    connection.execute(update(traces).where(traces.c.trace_id == trace_id).values(**totals, last_update_time=now_ms))


def with_costs(stored: Sequence[Span], costs: Mapping[str, Cost | None]) -> list[Span]:
    """Return the spans with their new costs."""
    return [dataclasses.replace(span, cost=costs[span.span_id]) if span.span_id in costs else span for span in stored]
