from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa

from tracelake.exceptions import NotFoundError, StoreError
from tracelake.model import StatusCode, TokenUsage, TraceMetadataKey, TraceState, WriteResult
from tracelake.store import SqlTraceStore
from tracelake.store.artifacts import LocalArtifactRepository
from tracelake.store.sql.schema import spans, trace_segments, traces

from .builders import T0_MS, make_batch, make_span, simple_trace, span_id, trace_id


def payload_objects(store: SqlTraceStore, trace: int) -> list[int]:
    """The packs holding a member of the trace."""
    query = sa.select(trace_segments.c.pack_id).where(trace_segments.c.trace_id == trace_id(trace))
    return sorted(row[0] for row in store.execute_read(query))


def test_write_then_read(store: SqlTraceStore, experiment_id: str) -> None:
    result = store.write_batches(experiment_id, [simple_trace(1, request_preview="hi", response_preview="bye")])

    assert result == WriteResult(written_spans=3, duplicate_spans=0, traces=1)
    info = store.get_trace_info(trace_id(1))
    assert info.experiment_id == experiment_id
    assert info.state == TraceState.OK
    assert info.name == "root"
    assert info.request_time == T0_MS
    assert info.execution_duration == 100
    assert info.span_count == 3
    assert (info.request_preview, info.response_preview) == ("hi", "bye")
    assert info.token_usage is None
    assert info.cost is None
    trace = store.get_trace(trace_id(1))
    assert [span.span_id for span in trace.data.spans] == [span_id(1), span_id(2), span_id(3)]
    assert trace.data.spans == simple_trace(1).spans


def test_double_write_is_idempotent(store: SqlTraceStore, experiment_id: str) -> None:
    batch = simple_trace(1, tags={"a": "1"})
    store.write_batches(experiment_id, [batch])
    before = store.get_trace_info(trace_id(1))
    objects = payload_objects(store, 1)

    again = store.write_batches(experiment_id, [batch])

    assert again == WriteResult(written_spans=0, duplicate_spans=3, traces=1)
    after = store.get_trace_info(trace_id(1))
    assert after == before
    assert payload_objects(store, 1) == objects
    assert len(store.get_spans(trace_id(1))) == 3


def test_a_replayed_batch_does_not_undo_later_changes(store: SqlTraceStore, experiment_id: str) -> None:
    batch = simple_trace(1, tags={"reviewed": "no"})
    store.write_batches(experiment_id, [batch])
    store.set_trace_tag(trace_id(1), "reviewed", "yes")

    store.write_batches(experiment_id, [batch])

    assert store.get_trace_info(trace_id(1)).tags == {"reviewed": "yes"}


def test_duplicates_within_one_call(store: SqlTraceStore, experiment_id: str) -> None:
    root = make_span(1, 1, None, 0, 10)
    result = store.write_batches(experiment_id, [make_batch([root, root]), make_batch([root])])

    assert result == WriteResult(written_spans=1, duplicate_spans=2, traces=1)
    assert store.get_trace_info(trace_id(1)).span_count == 1


def test_spans_of_one_trace_in_three_batches(store: SqlTraceStore, experiment_id: str) -> None:
    # Children first (as exporters send them), the root last; an LLM span nested in a counted LLM
    # span is not counted again.
    llm = make_span(1, 2, 1, 5, 50, tokens=(100, 20), cost=0.5)
    nested = make_span(1, 3, 2, 6, 40, tokens=(100, 20), cost=0.5)
    tool = make_span(1, 4, 1, 60, 80, tokens=(7, 3))
    root = make_span(1, 1, None, 0, 120, name="agent")

    results = [
        store.write_batches(experiment_id, [make_batch([nested], counted=[])]),
        store.write_batches(experiment_id, [make_batch([llm, tool], counted=[2, 4])]),
    ]
    middle = store.get_trace_info(trace_id(1))
    results.append(
        store.write_batches(
            experiment_id, [make_batch([root], request_preview="question", metadata={TraceMetadataKey.USER: "u1"})]
        )
    )

    assert [r.written_spans for r in results] == [1, 2, 1]
    assert middle.state == TraceState.IN_PROGRESS
    assert middle.name is None
    assert middle.execution_duration is None
    assert middle.request_time == T0_MS + 5
    info = store.get_trace_info(trace_id(1))
    assert info.state == TraceState.OK
    assert info.name == "agent"
    assert info.request_time == T0_MS
    assert info.execution_duration == 120
    assert info.span_count == 4
    assert info.token_usage == TokenUsage(input_tokens=107, output_tokens=23, total_tokens=130)
    assert info.cost is not None
    assert info.cost.total_cost == pytest.approx(0.5)
    assert info.request_preview == "question"
    assert info.user_id == "u1"
    assert [s.span_id for s in store.get_spans(trace_id(1))] == [span_id(1), span_id(2), span_id(3), span_id(4)]
    # The root arrived and the trace had several members: they were compacted into one.
    assert len(payload_objects(store, 1)) == 1


def test_no_compaction_before_the_root_arrives(store: SqlTraceStore, experiment_id: str) -> None:
    store.write_batches(experiment_id, [make_batch([make_span(1, 2, 1, 5, 6)])])
    store.write_batches(experiment_id, [make_batch([make_span(1, 3, 1, 7, 8)])])

    assert len(payload_objects(store, 1)) == 2
    assert len(store.get_spans(trace_id(1))) == 2


def test_late_children_after_the_root_are_compacted_too(store: SqlTraceStore, experiment_id: str) -> None:
    store.write_batches(experiment_id, [simple_trace(1)])
    store.write_batches(experiment_id, [make_batch([make_span(1, 9, 1, 50, 60)])])

    assert len(payload_objects(store, 1)) == 1
    info = store.get_trace_info(trace_id(1))
    assert info.span_count == 4
    assert info.state == TraceState.OK
    assert info.name == "root"


def test_error_root_makes_an_error_trace(store: SqlTraceStore, experiment_id: str) -> None:
    store.write_batches(experiment_id, [make_batch([make_span(1, 1, None, 0, 30, status=StatusCode.ERROR)])])

    assert store.get_trace_info(trace_id(1)).state == TraceState.ERROR


def test_in_progress_span_completed_later(store: SqlTraceStore, experiment_id: str) -> None:
    open_root = make_span(1, 1, None, 0, None, name="agent")
    open_llm = make_span(1, 2, 1, 5, None)
    store.write_batches(experiment_id, [make_batch([open_root, open_llm], counted=[2])])
    running = store.get_trace_info(trace_id(1))

    done_llm = make_span(1, 2, 1, 5, 50, tokens=(10, 5))
    done_root = make_span(1, 1, None, 0, 90, name="agent", status=StatusCode.ERROR)
    result = store.write_batches(experiment_id, [make_batch([done_llm, done_root], counted=[2])])
    # A third copy of the finished span is a plain duplicate.
    replay = store.write_batches(experiment_id, [make_batch([done_llm], counted=[2])])

    assert running.state == TraceState.IN_PROGRESS
    assert running.name == "agent"
    assert running.execution_duration is None
    assert result.written_spans == 2
    assert result.duplicate_spans == 0
    assert replay == WriteResult(written_spans=0, duplicate_spans=1, traces=1)
    info = store.get_trace_info(trace_id(1))
    assert info.state == TraceState.ERROR
    assert info.execution_duration == 90
    assert info.span_count == 2
    assert info.token_usage == TokenUsage(10, 5, 15)
    read = {s.span_id: s for s in store.get_spans(trace_id(1))}
    assert read[span_id(2)] == done_llm
    assert read[span_id(1)] == done_root
    row = store.execute_read(sa.select(spans.c.end_time_ns, spans.c.total_tokens).where(spans.c.span_id == span_id(2)))
    assert tuple(row[0]) == (done_llm.end_time_ns, 15)


def test_completing_a_counted_span_replaces_its_usage(store: SqlTraceStore, experiment_id: str) -> None:
    store.write_batches(experiment_id, [make_batch([make_span(1, 2, 1, 0, None, tokens=(4, 1))], counted=[2])])
    store.write_batches(experiment_id, [make_batch([make_span(1, 2, 1, 0, 9, tokens=(40, 10))], counted=[2])])

    assert store.get_trace_info(trace_id(1)).token_usage == TokenUsage(40, 10, 50)


def test_trace_fields(store: SqlTraceStore, experiment_id: str) -> None:
    first = simple_trace(
        1,
        tags={"env": "dev", "keep": "me"},
        metadata={TraceMetadataKey.SESSION: "s-1", TraceMetadataKey.USER: "u-1"},
        client_request_id="req-1",
        request_preview="in",
        response_preview="out",
    )
    store.write_batches(experiment_id, [first])
    later = make_batch([make_span(1, 7, 1, 30, 40)], tags={"env": "prod"}, metadata={TraceMetadataKey.SESSION: "s-2"})
    store.write_batches(experiment_id, [later])

    info = store.get_trace_info(trace_id(1))
    assert info.tags == {"env": "prod", "keep": "me"}
    assert info.metadata == {TraceMetadataKey.SESSION: "s-2", TraceMetadataKey.USER: "u-1"}
    assert (info.session_id, info.user_id) == ("s-2", "u-1")
    assert info.client_request_id == "req-1"
    assert (info.request_preview, info.response_preview) == ("in", "out")
    row = store.execute_read(sa.select(traces.c.session_id, traces.c.user_id, traces.c.client_request_id))
    assert tuple(row[0]) == ("s-2", "u-1", "req-1")


def test_a_trace_stays_in_its_experiment(store: SqlTraceStore, experiment_id: str) -> None:
    other = store.create_experiment("other").experiment_id
    store.write_batches(experiment_id, [make_batch([make_span(1, 2, 1, 0, 5)])])

    store.write_batches(other, [make_batch([make_span(1, 1, None, 0, 10)])])

    info = store.get_trace_info(trace_id(1))
    assert info.experiment_id == experiment_id
    assert info.span_count == 2
    assert (
        store.execute_read(sa.select(sa.func.count()).select_from(spans).where(spans.c.experiment_id == int(other)))[0][
            0
        ]
        == 0
    )


def test_several_traces_in_one_call(store: SqlTraceStore, experiment_id: str) -> None:
    result = store.write_batches(experiment_id, [simple_trace(n, start_ms=n) for n in range(1, 51)])

    assert result == WriteResult(written_spans=150, duplicate_spans=0, traces=50)
    infos = store.get_trace_infos([trace_id(n) for n in (30, 999, 2, 30)])
    assert [info.trace_id for info in infos] == [trace_id(30), trace_id(2), trace_id(30)]


def test_get_trace_infos_with_many_ids(store: SqlTraceStore, experiment_id: str) -> None:
    store.write_batches(experiment_id, [simple_trace(n, tags={"n": str(n)}) for n in range(1, 4)])
    wanted = [trace_id(n) for n in range(1200, 0, -1)]

    infos = store.get_trace_infos(wanted)

    assert [(i.trace_id, i.tags) for i in infos] == [(trace_id(n), {"n": str(n)}) for n in (3, 2, 1)]


def test_missing_trace(store: SqlTraceStore) -> None:
    with pytest.raises(NotFoundError):
        store.get_trace_info(trace_id(404))
    with pytest.raises(NotFoundError):
        store.get_spans(trace_id(404))
    with pytest.raises(NotFoundError):
        store.get_trace(trace_id(404))


def test_writing_to_a_missing_or_deleted_experiment(store: SqlTraceStore, experiment_id: str) -> None:
    with pytest.raises(NotFoundError):
        store.write_batches("999", [simple_trace(1)])
    store.delete_experiment(experiment_id)
    with pytest.raises(NotFoundError):
        store.write_batches(experiment_id, [simple_trace(1)])
    assert store.get_trace_infos([trace_id(1)]) == []


@pytest.mark.parametrize("bad_id", ["../../etc", "a/b", "x" * 33, "", "with space"])
def test_invalid_trace_ids_change_nothing(store: SqlTraceStore, experiment_id: str, bad_id: str) -> None:
    good = simple_trace(1)
    bad = make_batch([make_span(2, 1, None, 0, 1)])
    object.__setattr__(bad, "trace_id", bad_id)

    with pytest.raises(StoreError, match="trace id"):
        store.write_batches(experiment_id, [good, bad])
    assert store.get_trace_infos([trace_id(1)]) == []


def test_span_in_the_wrong_batch(store: SqlTraceStore, experiment_id: str) -> None:
    batch = make_batch([make_span(1, 1, None, 0, 1), make_span(2, 2, None, 0, 1)])

    with pytest.raises(StoreError, match="trace id"):
        store.write_batches(experiment_id, [batch])


def test_empty_write(store: SqlTraceStore, experiment_id: str) -> None:
    assert store.write_batches(experiment_id, []) == WriteResult()


def test_long_names_are_cut_in_the_index_only(store: SqlTraceStore, experiment_id: str) -> None:
    long = "n" * 600
    store.write_batches(experiment_id, [make_batch([make_span(1, 1, None, 0, 1, name=long)], tags={"k" * 300: "v"})])

    info = store.get_trace_info(trace_id(1))
    assert info.name == "n" * 500
    assert info.tags == {"k" * 250: "v"}
    assert store.get_spans(trace_id(1))[0].name == long


def test_a_failed_payload_write_commits_nothing(
    store: SqlTraceStore, experiment_id: str, monkeypatch: pytest.MonkeyPatch, artifact_root: Path
) -> None:
    real = LocalArtifactRepository.put

    def failing(self: LocalArtifactRepository, key: str, data: bytes) -> None:
        real(self, key, data[: len(data) // 2])  # half written when the disk fills up
        raise StoreError("disk full")

    monkeypatch.setattr(LocalArtifactRepository, "put", failing)

    with pytest.raises(StoreError, match="disk full"):
        store.write_batches(experiment_id, [simple_trace(n) for n in range(1, 6)])

    assert store.get_trace_infos([trace_id(n) for n in range(1, 6)]) == []
    leftovers = [p for p in artifact_root.rglob("*") if p.is_file()]
    assert leftovers == []


def test_a_failed_commit_leaves_no_segments(
    store: SqlTraceStore, experiment_id: str, monkeypatch: pytest.MonkeyPatch, artifact_root: Path
) -> None:
    from tracelake.store.sql import write

    def broken_upsert(*args: object, **kwargs: object) -> None:
        raise sa.exc.OperationalError("UPSERT", {}, Exception("simulated failure"))

    monkeypatch.setattr(write, "upsert", broken_upsert)

    with pytest.raises(StoreError, match="simulated failure") as caught:
        store.write_batches(experiment_id, [simple_trace(1), simple_trace(2)])

    assert not isinstance(caught.value, sa.exc.SQLAlchemyError)
    assert store.get_trace_infos([trace_id(1), trace_id(2)]) == []
    assert [p for p in artifact_root.rglob("*") if p.is_file()] == []


def test_ten_thousand_span_trace(store: SqlTraceStore, experiment_id: str) -> None:
    # Ten batches of 1,000 children, then the root: one trace, read back whole and in order.
    n = 10_000
    children = [make_span(1, i, 1, i % 977, i % 977 + 5, tokens=(1, 1)) for i in range(2, n + 1)]
    for start in range(0, len(children), 1000):
        chunk = children[start : start + 1000]
        store.write_batches(experiment_id, [make_batch(chunk, counted=[int(s.span_id, 16) for s in chunk])])
    store.write_batches(experiment_id, [make_batch([make_span(1, 1, None, 0, 2000, name="big")])])

    info = store.get_trace_info(trace_id(1))
    assert info.span_count == n
    assert info.token_usage == TokenUsage(n - 1, n - 1, 2 * (n - 1))
    assert info.state == TraceState.OK
    assert info.execution_duration == 2000
    read = store.get_spans(trace_id(1))
    assert len(read) == n
    assert len({s.span_id for s in read}) == n
    assert read[0].span_id == span_id(1)
    assert [s.start_time_ns for s in read[1:]] == sorted(s.start_time_ns for s in read[1:])
    assert len(payload_objects(store, 1)) == 1


def test_spans_are_ordered_parents_first(store: SqlTraceStore, experiment_id: str) -> None:
    # Clock skew: the child claims to start before its parent.
    spans_ = [
        make_span(1, 3, 2, 1, 4),
        make_span(1, 2, 1, 5, 9),
        make_span(1, 1, None, 2, 10),
        make_span(1, 4, 1, 3, 6),
    ]
    store.write_batches(experiment_id, [make_batch(spans_)])

    order = [s.span_id for s in store.get_spans(trace_id(1))]

    assert order == [span_id(1), span_id(4), span_id(2), span_id(3)]
