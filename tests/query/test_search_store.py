"""search_traces through the real store: traces written by `write_batches`, read by the query layer."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from tracelake.exceptions import QueryError
from tracelake.model import Span, SpanStatus, StatusCode, TraceBatch, TraceFields, TraceState
from tracelake.query import search_traces
from tracelake.store import SqlTraceStore, open_embedded_store

from .database import BACKENDS, postgres_database

MS = 1_000_000  # nanoseconds
T0 = 1_700_000_000_000  # ms


@contextmanager
def open_store(backend: str, folder: Path) -> Iterator[SqlTraceStore]:
    if backend == "sqlite":
        with open_embedded_store(folder / "home") as store:
            yield store
        return
    with postgres_database(with_schema=False) as url, SqlTraceStore(str(url), str(folder / "artifacts")) as store:
        yield store


@pytest.fixture(params=BACKENDS)
def real_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[SqlTraceStore]:
    with open_store(request.param, tmp_path) as store:
        yield store


def span(trace_id: str, span_id: str, name: str, start_ms: int, end_ms: int | None, **extra: Any) -> Span:
    return Span(
        trace_id=trace_id,
        span_id=span_id,
        parent_id=extra.pop("parent_id", None),
        name=name,
        span_type=extra.pop("span_type", "CHAIN"),
        start_time_ns=start_ms * MS,
        end_time_ns=None if end_ms is None else end_ms * MS,
        status=SpanStatus(extra.pop("status", StatusCode.OK)),
        **extra,
    )


def write_trace(
    store: SqlTraceStore,
    experiment_id: str,
    trace_id: str,
    name: str,
    start_ms: int,
    end_ms: int | None,
    *,
    status: StatusCode = StatusCode.OK,
    child_type: str = "TOOL",
    child_status: StatusCode = StatusCode.OK,
    tags: dict[str, str] | None = None,
    metadata: dict[str, str] | None = None,
) -> None:
    root = span(trace_id, "r", name, start_ms, end_ms, span_type="AGENT", status=status)
    child = span(
        trace_id, "c", f"{name}-step", start_ms, start_ms + 1, parent_id="r", span_type=child_type, status=child_status
    )
    fields = TraceFields(tags=tags or {}, metadata=metadata or {})
    store.write_batches(experiment_id, [TraceBatch(trace_id, [root, child], fields)])


@pytest.fixture(scope="module", params=BACKENDS)
def populated(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[SqlTraceStore, str, str]]:
    """A store with four traces, shared by the tests of this module that only read."""
    with open_store(request.param, tmp_path_factory.mktemp("populated")) as real_store:
        yield _populate(real_store)


def _populate(real_store: SqlTraceStore) -> tuple[SqlTraceStore, str, str]:
    main = real_store.create_experiment("main").experiment_id
    other = real_store.create_experiment("other").experiment_id
    write_trace(real_store, main, "tr-ok", "Answer", T0, T0 + 120, tags={"env": "prod"}, metadata={"session_id": "s1"})
    write_trace(
        real_store,
        main,
        "tr-err",
        "answer",
        T0 + 10,
        T0 + 400,
        status=StatusCode.ERROR,
        child_type="LLM",
        child_status=StatusCode.ERROR,
        tags={"env": "dev"},
        metadata={"session_id": "s1", "user_id": "u9", "mlflow.trace.session": "m"},
    )
    write_trace(real_store, main, "tr-open", "Answer", T0 + 20, None, child_type="RETRIEVER")
    write_trace(real_store, other, "tr-other", "Answer", T0 + 30, T0 + 31, tags={"env": "prod"})
    return real_store, main, other


def found(
    store: SqlTraceStore, experiment_ids: list[str] | None, filter_string: str | None = None, **kw: Any
) -> list[str]:
    return [info.trace_id for info in search_traces(store, experiment_ids, filter_string, **kw).trace_infos]


def test_written_traces_are_found_with_their_summaries(populated: tuple[SqlTraceStore, str, str]) -> None:
    store, main, _ = populated
    page = search_traces(store, [main])
    assert [info.trace_id for info in page.trace_infos] == ["tr-open", "tr-err", "tr-ok"]
    by_id = {info.trace_id: info for info in page.trace_infos}
    assert by_id["tr-err"].state is TraceState.ERROR
    assert by_id["tr-open"].state is TraceState.IN_PROGRESS
    assert by_id["tr-ok"].tags == {"env": "prod"}
    assert by_id["tr-err"].metadata["session_id"] == "s1"


@pytest.mark.parametrize(
    ("filter_string", "expected"),
    [
        ("status = 'ERROR'", ["tr-err"]),
        ("status = 'IN_PROGRESS'", ["tr-open"]),
        ("execution_time_ms IS NULL", ["tr-open"]),
        ("execution_time_ms > 200", ["tr-err"]),
        ("execution_time_ms <= 120", ["tr-ok"]),
        ("name = 'Answer'", ["tr-open", "tr-ok"]),
        ("name LIKE 'a%'", ["tr-err"]),
        ("name ILIKE 'a%'", ["tr-open", "tr-err", "tr-ok"]),
        ("tags.env = 'prod'", ["tr-ok"]),
        ("tags.env != 'prod'", ["tr-err"]),
        ("tags.env IS NULL", ["tr-open"]),
        ("session = 's1'", ["tr-err", "tr-ok"]),
        ("metadata.session_id = 's1' AND user = 'u9'", ["tr-err"]),
        ("metadata.`mlflow.trace.session` = 'm'", ["tr-err"]),
        ("span.type = 'LLM'", ["tr-err"]),
        ("span.type IN ('RETRIEVER', 'LLM') AND span.status = 'ERROR'", ["tr-err"]),
        ("span.name = 'Answer-step'", ["tr-open", "tr-ok"]),
        ("span.type = 'AGENT' AND (tags.env = 'dev' OR status = 'IN_PROGRESS')", ["tr-open", "tr-err"]),
        ("timestamp_ms >= 1700000000010 AND timestamp_ms < 1700000000020", ["tr-err"]),
        ("name = 'x''; DROP TABLE traces; --'", []),
    ],
)
def test_filters(populated: tuple[SqlTraceStore, str, str], filter_string: str, expected: list[str]) -> None:
    store, main, _ = populated
    assert found(store, [main], filter_string) == expected
    assert len(found(store, [main])) == 3  # the hostile one changed nothing


def test_experiment_scope(real_store: SqlTraceStore) -> None:
    store, _, other = _populate(real_store)
    assert found(store, [other]) == ["tr-other"]
    assert found(store, None, "tags.env = 'prod'") == ["tr-other", "tr-ok"]
    store.delete_experiment(other)
    assert found(store, None, "tags.env = 'prod'") == ["tr-ok"]
    assert found(store, [other]) == ["tr-other"]


def test_pages_through_the_store(real_store: SqlTraceStore) -> None:
    experiment = real_store.create_experiment("paging").experiment_id
    for i in range(40):
        # Start times tie in fours; every fifth trace is still running (no execution time).
        end = None if i % 5 == 0 else T0 + i // 4 + (i * 7) % 13
        write_trace(real_store, experiment, f"p{i:02d}", f"n{i % 3}", T0 + i // 4, end)
    for order_by in (None, ["execution_time_ms DESC"], ["name", "execution_time_ms"]):
        seen: list[str] = []
        token: str | None = None
        while True:
            page = search_traces(real_store, [experiment], order_by=order_by, max_results=6, page_token=token)
            seen += [info.trace_id for info in page.trace_infos]
            token = page.next_page_token
            if token is None:
                break
        assert sorted(seen) == [f"p{i:02d}" for i in range(40)], order_by
        everything = search_traces(real_store, [experiment], order_by=order_by, max_results=100)
        assert seen == [info.trace_id for info in everything.trace_infos]


def test_errors_are_query_errors(populated: tuple[SqlTraceStore, str, str]) -> None:
    store, main, _ = populated
    with pytest.raises(QueryError):
        search_traces(store, [main], "span.kind = 'LLM'")
    with pytest.raises(QueryError):
        search_traces(store, ["main"])
