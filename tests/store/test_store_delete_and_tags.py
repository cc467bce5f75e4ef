from __future__ import annotations

import pytest
import sqlalchemy as sa

from tracelake.exceptions import ConfigError, NotFoundError, StoreError
from tracelake.store import SqlTraceStore
from tracelake.store.sql.schema import spans, trace_metadata, trace_tags

from .builders import pack_names, simple_trace, trace_id


@pytest.fixture
def five_traces(store: SqlTraceStore, experiment_id: str) -> str:
    """Traces 1…5 starting at T0 + 10, 20, 30, 40, 50 ms, written in shuffled order."""
    batches = [simple_trace(n, start_ms=10 * n, tags={"t": "x"}, metadata={"m": "y"}) for n in (3, 1, 5, 2, 4)]
    store.write_batches(experiment_id, batches)
    return experiment_id


def remaining(store: SqlTraceStore) -> list[str]:
    return [info.trace_id for info in store.get_trace_infos([trace_id(n) for n in range(1, 6)])]


def test_delete_by_timestamp(store: SqlTraceStore, five_traces: str) -> None:
    cutoff = store.get_trace_info(trace_id(3)).request_time

    assert store.delete_traces(five_traces, max_timestamp_ms=cutoff) == 3
    assert remaining(store) == [trace_id(4), trace_id(5)]


def test_delete_oldest_first_up_to_max_traces(store: SqlTraceStore, five_traces: str) -> None:
    latest = store.get_trace_info(trace_id(5)).request_time

    assert store.delete_traces(five_traces, max_timestamp_ms=latest, max_traces=2) == 2
    assert remaining(store) == [trace_id(3), trace_id(4), trace_id(5)]


def test_delete_by_ids(store: SqlTraceStore, five_traces: str) -> None:
    assert store.delete_traces(five_traces, trace_ids=[trace_id(2), trace_id(4), trace_id(99)]) == 2
    assert remaining(store) == [trace_id(1), trace_id(3), trace_id(5)]


def test_delete_only_within_the_experiment(store: SqlTraceStore, five_traces: str) -> None:
    other = store.create_experiment("other").experiment_id

    assert store.delete_traces(other, trace_ids=[trace_id(1)]) == 0
    assert store.delete_traces(other, max_timestamp_ms=2**62) == 0
    assert len(remaining(store)) == 5


def test_delete_removes_payloads_and_dependent_rows(store: SqlTraceStore, five_traces: str) -> None:
    location = store.get_experiment(five_traces).artifact_location
    packs = pack_names(location)
    assert len(packs) == 1  # written in one call

    store.delete_traces(five_traces, trace_ids=[trace_id(1)])

    assert pack_names(location) == packs  # still holding traces 2 to 5
    with pytest.raises(NotFoundError):
        store.get_spans(trace_id(1))
    assert len(store.get_spans(trace_id(2))) == 3
    store.delete_traces(five_traces, max_timestamp_ms=2**62)
    assert pack_names(location) == []
    for table in (spans, trace_tags, trace_metadata):
        count = sa.select(sa.func.count()).select_from(table).where(table.c.trace_id == trace_id(1))
        assert store.execute_read(count)[0][0] == 0
    with pytest.raises(NotFoundError):
        store.get_spans(trace_id(1))


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({}, "max_timestamp_ms or trace_ids"),
        ({"max_traces": 3}, "max_timestamp_ms or trace_ids"),
        ({"max_timestamp_ms": 1, "trace_ids": ["a"]}, "only one"),
        ({"trace_ids": ["a"], "max_traces": 1}, "max_traces"),
        ({"max_timestamp_ms": 1, "max_traces": 0}, "positive"),
    ],
)
def test_delete_argument_rules(store: SqlTraceStore, five_traces: str, kwargs: dict, message: str) -> None:  # type: ignore[type-arg]
    with pytest.raises(ConfigError, match=message):
        store.delete_traces(five_traces, **kwargs)
    assert len(remaining(store)) == 5


def test_delete_in_a_missing_experiment(store: SqlTraceStore) -> None:
    with pytest.raises(NotFoundError):
        store.delete_traces("999", max_timestamp_ms=0)


def test_set_and_delete_tags(store: SqlTraceStore, five_traces: str) -> None:
    before = store.execute_read(sa.text(f"SELECT last_update_time FROM traces WHERE trace_id = '{trace_id(1)}'"))

    store.set_trace_tag(trace_id(1), "verdict", "good")
    store.set_trace_tag(trace_id(1), "verdict", "great")
    store.delete_trace_tag(trace_id(1), "t")

    assert store.get_trace_info(trace_id(1)).tags == {"verdict": "great"}
    after = store.execute_read(sa.text(f"SELECT last_update_time FROM traces WHERE trace_id = '{trace_id(1)}'"))
    assert after[0][0] >= before[0][0]


def test_tag_errors(store: SqlTraceStore, five_traces: str) -> None:
    with pytest.raises(NotFoundError):
        store.set_trace_tag(trace_id(99), "k", "v")
    with pytest.raises(NotFoundError):
        store.delete_trace_tag(trace_id(99), "k")
    with pytest.raises(NotFoundError):
        store.delete_trace_tag(trace_id(1), "never-set")
    with pytest.raises(StoreError):
        store.set_trace_tag(trace_id(1), "", "v")
