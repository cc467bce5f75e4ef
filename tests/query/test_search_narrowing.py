"""A rare required value drives a search from its index entries; the results stay the same."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tracelake.model import TraceBatch, TraceFields
from tracelake.query import narrowing, search_traces
from tracelake.query.grammar import parse_filter
from tracelake.query.order import parse_order_by
from tracelake.store import SqlTraceStore

from .database import BACKENDS
from .test_search_store import open_store, span


@pytest.fixture(params=BACKENDS)
def store_with_traces(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[SqlTraceStore, str]]:
    with open_store(request.param, tmp_path) as store:
        experiment_id = store.create_experiment("narrow").experiment_id
        batches = []
        for n in range(1, 61):
            trace_id = f"{n:032x}"
            tool = "refund_tool" if n % 20 == 0 else "lookup_tool"  # 3 traces call the rare tool
            spans = [
                span(trace_id, f"{2 * n:016x}", "agent", n * 10, n * 10 + 9),
                span(trace_id, f"{2 * n + 1:016x}", tool, n * 10 + 1, n * 10 + 5, parent_id=f"{2 * n:016x}"),
            ]
            fields = TraceFields(
                tags={"team": "care", "vip": "yes" if n in (7, 8) else "no"}, metadata={"user_id": f"u{n % 3}"}
            )
            batches.append(TraceBatch(trace_id=trace_id, spans=spans, fields=fields))
        store.write_batches(experiment_id, batches)
        yield store, experiment_id


FILTERS = [
    "span.name = 'refund_tool'",
    "tags.vip = 'yes'",
    "tags.vip = 'yes' AND span.name = 'agent'",
    "metadata.user_id = 'u1' AND span.name = 'refund_tool'",
    "span.name = 'no_such_tool'",
    "span.name = 'refund_tool' OR tags.vip = 'yes'",  # OR: not narrowed, same answer
    "tags.team = 'care'",  # every trace: narrowed to all of them, or walked when common
]


#: How a search may run: each must give the same pages.
PLANS = {
    "walk": {"DRIVE_LIMIT": -1},  # no value is ever rare enough: the plain walk in time order
    "drive": {"ALWAYS_DRIVE": 10**9},  # every counted value drives
    "sampled": {"ALWAYS_DRIVE": 0, "SAMPLE_SIZE": 7},  # the sample decides
}


@pytest.mark.parametrize("filter_string", FILTERS)
@pytest.mark.parametrize("order_by", [None, ["timestamp_ms ASC"], ["execution_time_ms DESC"]])
def test_every_plan_finds_what_the_full_walk_finds(
    store_with_traces: tuple[SqlTraceStore, str],
    filter_string: str,
    order_by: list[str] | None,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    store, experiment_id = store_with_traces

    def pages() -> list[list[str]]:
        found, token = [], None
        while True:
            page = search_traces(
                store, [experiment_id], filter_string, order_by=order_by, max_results=2, page_token=token
            )
            found.append([info.trace_id for info in page.trace_infos])
            token = page.next_page_token
            if token is None:
                return found

    answers = {}
    for plan, settings in PLANS.items():
        with monkeypatch.context() as patch:
            for name, value in settings.items():
                patch.setattr(narrowing, name, value)
            answers[plan] = pages()
    assert answers["drive"] == answers["walk"]
    assert answers["sampled"] == answers["walk"]
    expected = {0: 3, 1: 2, 2: 2, 3: 1, 4: 0, 5: 5, 6: 60}[FILTERS.index(filter_string)]
    assert sum(len(page) for page in answers["walk"]) == expected


def test_every_experiment_search_drives_from_active_experiments(store_with_traces: tuple[SqlTraceStore, str]) -> None:
    store, _ = store_with_traces
    other = store.create_experiment("other").experiment_id
    store.write_batches(other, [TraceBatch(trace_id="f" * 32, spans=[span("f" * 32, "f" * 16, "refund_tool", 1, 2)])])
    store.delete_experiment(other)

    found = search_traces(store, None, "span.name = 'refund_tool'", max_results=10)

    assert [info.trace_id for info in found.trace_infos] == [f"{n:032x}" for n in (60, 40, 20)]


def test_only_required_equalities_drive(store_with_traces: tuple[SqlTraceStore, str]) -> None:
    store, experiment_id = store_with_traces
    scope = [int(experiment_id)]
    keys = parse_order_by(None)

    def driver(filter_string: str) -> narrowing.Driver | None:
        return narrowing.choose_driver(store, parse_filter(filter_string), scope, keys, 101)

    rare = driver("tags.team = 'care' AND span.name = 'refund_tool'")
    assert rare is not None and (rare.position, rare.count) == (1, 3)
    assert driver("span.name = 'refund_tool' OR tags.vip = 'yes'") is None
    assert driver("span.name != 'agent'") is None
    nothing = driver("span.name = 'nothing'")
    assert nothing is not None and nothing.count == 0
