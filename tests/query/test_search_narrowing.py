"""A rare required value narrows a search to the traces it allows; the results stay the same."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tracelake.model import TraceBatch, TraceFields
from tracelake.query import narrowing, search_traces
from tracelake.query.grammar import parse_filter
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


@pytest.mark.parametrize("filter_string", FILTERS)
def test_narrowed_searches_find_what_the_full_walk_finds(
    store_with_traces: tuple[SqlTraceStore, str], filter_string: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    store, experiment_id = store_with_traces

    def pages(**kwargs: object) -> list[list[str]]:
        found, token = [], None
        while True:
            page = search_traces(store, [experiment_id], filter_string, max_results=2, page_token=token, **kwargs)  # type: ignore[arg-type]
            found.append([info.trace_id for info in page.trace_infos])
            token = page.next_page_token
            if token is None:
                return found

    narrowed = pages()
    monkeypatch.setattr(narrowing, "PROBE_LIMIT", -1)  # no value is ever rare enough: the plain walk
    walked = pages()
    assert narrowed == walked
    assert (
        sum(len(page) for page in narrowed) == {0: 3, 1: 2, 2: 2, 3: 1, 4: 0, 5: 5, 6: 60}[FILTERS.index(filter_string)]
    )


def test_only_required_equalities_narrow(store_with_traces: tuple[SqlTraceStore, str]) -> None:
    store, experiment_id = store_with_traces
    scope = [int(experiment_id)]

    ids = narrowing.candidate_trace_ids(store, parse_filter("span.name = 'refund_tool'"), scope)

    assert sorted(ids or []) == [f"{n:032x}" for n in (20, 40, 60)]
    assert (
        narrowing.candidate_trace_ids(store, parse_filter("span.name = 'refund_tool' OR tags.vip = 'yes'"), scope)
        is None
    )
    assert narrowing.candidate_trace_ids(store, parse_filter("span.name != 'agent'"), scope) is None
    assert narrowing.candidate_trace_ids(store, parse_filter("span.name = 'nothing'"), scope) == []
