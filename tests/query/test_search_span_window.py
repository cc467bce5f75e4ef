"""Newest-first searches for a span name start from the name's newest spans; pages stay exact.

The data is built to trip the window's reasoning: matching spans that start long after their
trace (so span order and trace order differ), traces that start in the same millisecond (ties
broken by trace id), spans starting mid-millisecond, the name in two experiments, and filters
whose other operands are selective (so small windows are not enough and larger ones, or the other
plans, take over). Every page must equal the plain walk's.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from typing import Any

import pytest

from tracelake.model import Span, SpanStatus, StatusCode, TraceBatch, TraceFields
from tracelake.query import narrowing, search, search_traces, span_window
from tracelake.store import SqlTraceStore

from .database import BACKENDS
from .test_search_store import open_store

MS = 1_000_000
RARE = "escalate"


def _span(trace_id: str, number: int, name: str, start_ns: int, parent: str | None, ok: bool = True) -> Span:
    return Span(
        trace_id=trace_id,
        span_id=f"{number:016x}",
        parent_id=parent,
        name=name,
        span_type="TOOL" if parent else "AGENT",
        start_time_ns=start_ns,
        end_time_ns=start_ns + 5 * MS,
        status=SpanStatus(StatusCode.OK if ok else StatusCode.ERROR),
    )


def _traces(rng: random.Random, first: int, count: int) -> list[TraceBatch]:
    batches = []
    for n in range(first, first + count):
        trace_id = f"{n:032x}"
        start_ns = (n // 3) * 7 * MS  # three traces per millisecond slot: ties on request time
        root = f"{4 * n:016x}"
        spans = [_span(trace_id, 4 * n, "agent", start_ns, None)]
        if rng.random() < 0.3:
            # The rare span starts up to 400 ms into its trace, in the middle of a millisecond.
            offset = rng.randrange(1, 400) * MS + rng.randrange(0, MS)
            spans.append(_span(trace_id, 4 * n + 1, RARE, start_ns + offset, root, ok=rng.random() < 0.7))
        spans.append(_span(trace_id, 4 * n + 2, "lookup", start_ns + 2 * MS, root))
        fields = TraceFields(tags={"vip": "yes" if rng.random() < 0.25 else "no"})
        batches.append(TraceBatch(trace_id=trace_id, spans=spans, fields=fields))
    return batches


@pytest.fixture(scope="module", params=BACKENDS)
def store_with_traces(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[SqlTraceStore, list[str]]]:
    rng = random.Random(7)
    with open_store(request.param, tmp_path_factory.mktemp("window")) as store:
        first = store.create_experiment("first").experiment_id
        second = store.create_experiment("second").experiment_id
        store.write_batches(first, _traces(rng, 1, 120))
        store.write_batches(second, _traces(rng, 121, 40))
        yield store, [first, second]


def _pages(store: SqlTraceStore, scope: list[str] | None, filter_string: str, size: int) -> list[list[str]]:
    found, token = [], None
    while True:
        page = search_traces(store, scope, filter_string, max_results=size, page_token=token)
        found.append([info.trace_id for info in page.trace_infos])
        token = page.next_page_token
        if token is None:
            return found


FILTERS = [
    f"span.name = '{RARE}'",
    f"span.name = '{RARE}' AND tags.vip = 'yes'",  # selective: small windows fall short
    f"tags.vip = 'no' AND span.name = '{RARE}' AND status = 'ERROR'",
    f"span.name = '{RARE}' AND timestamp_ms > 300",
    "span.name = 'lookup'",  # in every trace
    "span.name = 'nowhere'",
]


# Page size 1 for the rare name's filters (windows of 2 and 4 spans: most fall short); the common
# name pages through every trace, 12 at a time.
CASES = [(filter_string, 1) for filter_string in FILTERS if "lookup" not in filter_string] + [
    (filter_string, 12) for filter_string in FILTERS
]


@pytest.mark.parametrize(("filter_string", "size"), CASES)
@pytest.mark.parametrize("growth", [(4, 32), (1, 2)])
def test_windowed_pages_equal_the_walks(
    store_with_traces: tuple[SqlTraceStore, list[str]],
    filter_string: str,
    size: int,
    growth: tuple[int, ...],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    store, (first, second) = store_with_traces
    for scope in ([first], [first, second], None):
        with monkeypatch.context() as patch:
            patch.setattr(span_window, "WINDOW_GROWTH", ())
            patch.setattr(narrowing, "DRIVE_LIMIT", -1)  # neither window nor drive: the plain walk
            walked = _pages(store, scope, filter_string, size)
        with monkeypatch.context() as patch:
            patch.setattr(span_window, "WINDOW_GROWTH", growth)
            patch.setattr(narrowing, "DRIVE_LIMIT", -1)  # windows first, then the walk
            windowed = _pages(store, scope, filter_string, size)
        assert windowed == walked, (scope, filter_string)


def test_a_rare_span_name_is_answered_by_the_first_window(
    store_with_traces: tuple[SqlTraceStore, list[str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    store, _ = store_with_traces
    # As in production: traces 10 ms apart, the rare tool called 3 ms into one trace in ten.
    experiment_id = store.create_experiment("realistic").experiment_id
    batches = []
    for n in range(1, 201):
        trace_id, start_ns = f"{10_000 + n:032x}", n * 10 * MS
        spans = [_span(trace_id, 4 * n, "agent", start_ns, None)]
        if n % 10 == 0:
            spans.append(_span(trace_id, 4 * n + 1, RARE, start_ns + 3 * MS, f"{4 * n:016x}"))
        batches.append(TraceBatch(trace_id=trace_id, spans=spans))
    store.write_batches(experiment_id, batches)
    answered: list[bool] = []
    first_exact_window = search._first_exact_window

    def spy(*args: Any) -> Any:
        rows = first_exact_window(*args)
        answered.append(rows is not None)
        return rows

    def no_counting(*args: Any) -> Any:
        raise AssertionError("a plan was chosen although the first window held the page")

    monkeypatch.setattr(search, "_first_exact_window", spy)
    monkeypatch.setattr(search, "choose_driver", no_counting)
    page = search_traces(store, [experiment_id], f"span.name = '{RARE}'", max_results=5)

    assert answered == [True]
    assert [info.trace_id for info in page.trace_infos] == [f"{10_000 + n:032x}" for n in (200, 190, 180, 170, 160)]
    assert page.next_page_token is not None


def test_other_orders_and_operators_are_left_to_the_other_plans(
    store_with_traces: tuple[SqlTraceStore, list[str]],
) -> None:
    store, (first, _) = store_with_traces
    from tracelake.query.grammar import parse_filter
    from tracelake.query.order import parse_order_by

    def windows(filter_string: str, order_by: list[str] | None = None) -> list[span_window.Window]:
        keys = parse_order_by(order_by)
        return list(span_window.span_name_windows(store, parse_filter(filter_string), [int(first)], keys, 5))

    assert len(windows(f"span.name = '{RARE}'")) == 2
    assert windows(f"span.name = '{RARE}'", ["timestamp_ms ASC"]) == []
    assert windows(f"span.name = '{RARE}'", ["execution_time_ms DESC"]) == []
    assert windows(f"span.name != '{RARE}'") == []
    assert windows(f"span.name = '{RARE}' OR tags.vip = 'yes'") == []
