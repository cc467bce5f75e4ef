"""A trace's token totals count each LLM call once, however its spans are split across writes."""

from __future__ import annotations

import pytest

from tracelake.ingest import normalize
from tracelake.model import SpanRecord
from tracelake.store import SqlTraceStore

from .records import record


def write_in_batches(store: SqlTraceStore, *batches: list[SpanRecord]) -> str:
    experiment_id = store.create_experiment("costs").experiment_id
    for records in batches:
        store.write_batches(experiment_id, normalize(records))
    return records[0].trace_id


def totals(store: SqlTraceStore, trace_id: str) -> tuple[int, int]:
    usage = store.get_trace_info(trace_id).token_usage
    assert usage is not None
    return usage.input_tokens, usage.output_tokens


# Trace 1: root 1 (no usage) → user's LLM span 2 (10 in / 5 out) → autologged LLM call 3 (the same call).
ROOT, OUTER, INNER = record(1, 1, None), record(1, 2, 1, tokens=(10, 5)), record(1, 3, 2, tokens=(10, 5))


@pytest.mark.parametrize(
    "batches",
    [
        pytest.param([[INNER, OUTER, ROOT]], id="one-batch"),
        pytest.param([[INNER], [OUTER], [ROOT]], id="child-first"),
        pytest.param([[INNER], [OUTER, ROOT]], id="child-then-rest"),
        pytest.param([[OUTER], [INNER], [ROOT]], id="parent-first"),
        pytest.param([[ROOT], [INNER], [OUTER]], id="root-first"),
    ],
)
def test_nested_llm_spans_count_once(store: SqlTraceStore, batches: list[list[SpanRecord]]) -> None:
    trace_id = write_in_batches(store, *batches)

    assert totals(store, trace_id) == (10, 5)
    info = store.get_trace_info(trace_id)
    assert info.cost is not None
    outer = next(span for span in store.get_spans(trace_id) if span.name == "span-2")
    assert outer.cost is not None
    assert info.cost.total_cost == pytest.approx(outer.cost.total_cost)


def test_an_ancestor_with_usage_arriving_through_a_span_without_usage(store: SqlTraceStore) -> None:
    # 1 (LLM, 7/3) → 2 (CHAIN) → 3 (LLM, 7/3): 3 first, then 2, then 1.
    trace_id = write_in_batches(
        store, [record(1, 3, 2, tokens=(7, 3))], [record(1, 2, 1)], [record(1, 1, None, tokens=(7, 3))]
    )

    assert totals(store, trace_id) == (7, 3)


def test_sibling_llm_calls_both_count(store: SqlTraceStore) -> None:
    trace_id = write_in_batches(
        store, [record(1, 2, 1, tokens=(10, 5))], [record(1, 3, 1, tokens=(4, 1))], [record(1, 1, None)]
    )

    assert totals(store, trace_id) == (14, 6)


def test_a_replayed_batch_changes_nothing(store: SqlTraceStore) -> None:
    trace_id = write_in_batches(store, [INNER], [OUTER, ROOT], [INNER], [OUTER])

    assert totals(store, trace_id) == (10, 5)
    assert store.get_trace_info(trace_id).span_count == 3


def test_counting_survives_parent_cycles() -> None:
    from tracelake.store.sql.counting import counted_spans

    # Malformed input: a ↔ b point at each other, c is under b; all report usage.
    parents = {"a": "b", "b": "a", "c": "b", "d": "d"}
    assert counted_spans(parents, {"c"}) == {"c"}
    # c is under b under a, so a covers it; a's walk comes back to a: it counts, once.
    assert counted_spans(parents, {"a", "c"}) == {"a"}
    assert counted_spans(parents, {"d"}) == {"d"}  # its own parent
