from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Sequence
from typing import Any

import pytest

from tracelake.exceptions import QueryError
from tracelake.model import TraceInfo
from tracelake.query import SearchPage, search_traces
from tracelake.query.search import MAX_RESULTS_LIMIT

from .database import Db, EngineStore

# 250 traces whose sort columns are full of ties and NULLs, and whose ids are unrelated to time.
COUNT = 250
STATES = ["OK", "ERROR", "IN_PROGRESS", "OK"]


def _row(i: int) -> dict[str, Any]:
    return {
        "trace_id": hashlib.md5(str(i).encode()).hexdigest(),
        "request_time": 1_700_000_000_000 + i // 7,
        "execution_duration": None if i % 5 == 0 else (i * 37) % 50,
        "end_time": None if i % 6 == 0 else 1_700_000_001_000 + i % 11,
        "name": None if i % 4 == 0 else f"n{(i * 13) % 20:02d}",
        "state": STATES[i % 4],
        "total_tokens": None if i % 9 == 0 else (i * 3) % 17,
        "total_cost": None if i % 3 == 0 else ((i * 7) % 10) / 4,
        "tags": {"parity": "even" if i % 2 == 0 else "odd"},
    }


ROWS = [_row(i) for i in range(COUNT)]
COLUMN_OF = {
    "timestamp_ms": "request_time",
    "execution_time_ms": "execution_duration",
    "end_time_ms": "end_time",
    "name": "name",
    "status": "state",
    "trace_id": "trace_id",
    "total_tokens": "total_tokens",
    "total_cost": "total_cost",
}


def expected_order(rows: list[dict[str, Any]], keys: list[tuple[str, bool]]) -> list[str]:
    """The reference ordering: stable sorts from the last key to the first, NULLs always last."""
    ordered = sorted(rows, key=lambda row: row["trace_id"])
    for name, descending in reversed(keys):
        column = COLUMN_OF[name]
        present = sorted((r for r in ordered if r[column] is not None), key=lambda r: r[column], reverse=descending)
        ordered = present + [r for r in ordered if r[column] is None]
    return [row["trace_id"] for row in ordered]


def page_through(store: EngineStore, max_results: int, **kwargs: Any) -> list[str]:
    seen: list[str] = []
    token: str | None = None
    for _ in range(COUNT + 2):
        page = search_traces(store, ["1"], max_results=max_results, page_token=token, **kwargs)
        assert len(page.trace_infos) <= max_results
        seen += [info.trace_id for info in page.trace_infos]
        token = page.next_page_token
        if token is None:
            return seen
        assert len(page.trace_infos) == max_results
    raise AssertionError("pagination did not end")


@pytest.fixture(scope="module")
def many(module_db: Db) -> EngineStore:
    module_db.add(*ROWS)
    return EngineStore(module_db.engine)


ORDERS: list[tuple[list[str] | None, list[tuple[str, bool]]]] = [
    (None, [("timestamp_ms", True)]),
    (["timestamp_ms ASC"], [("timestamp_ms", False)]),
    (["execution_time_ms"], [("execution_time_ms", False)]),
    (["execution_time DESC"], [("execution_time_ms", True)]),
    (["name", "timestamp DESC"], [("name", False), ("timestamp_ms", True)]),
    (["name DESC", "execution_time_ms"], [("name", True), ("execution_time_ms", False)]),
    (["status", "execution_time_ms DESC"], [("status", False), ("execution_time_ms", True)]),
    (["total_cost DESC", "name"], [("total_cost", True), ("name", False)]),
    (
        ["total_tokens", "total_cost", "end_time_ms DESC"],
        [("total_tokens", False), ("total_cost", False), ("end_time_ms", True)],
    ),
    (["trace_id DESC"], [("trace_id", True)]),
    (["status DESC", "name DESC", "total_cost"], [("status", True), ("name", True), ("total_cost", False)]),
]


@pytest.mark.parametrize(("order_by", "keys"), ORDERS, ids=[str(order) for order, _ in ORDERS])
@pytest.mark.parametrize("max_results", [7, 64, COUNT])
def test_pages_cover_every_trace_once_in_order(
    many: EngineStore, order_by: list[str] | None, keys: list[tuple[str, bool]], max_results: int
) -> None:
    tie_broken = keys if keys[-1][0] == "trace_id" else [*keys, ("trace_id", False)]
    assert page_through(many, max_results, order_by=order_by) == expected_order(ROWS, tie_broken)


def test_page_size_one(many: EngineStore) -> None:
    assert page_through(many, 1) == expected_order(ROWS, [("timestamp_ms", True), ("trace_id", False)])


@pytest.mark.parametrize(
    ("filter_string", "predicate"),
    [
        ("status != 'ERROR' AND tags.parity = 'odd'", lambda r: r["state"] != "ERROR" and r["tags"]["parity"] == "odd"),
        ("execution_time_ms IS NULL OR name = 'n03'", lambda r: r["execution_duration"] is None or r["name"] == "n03"),
    ],
)
def test_filtered_pages(many: EngineStore, filter_string: str, predicate: Any) -> None:
    order = [("execution_time_ms", True), ("name", False), ("trace_id", False)]
    seen = page_through(many, 9, filter_string=filter_string, order_by=["execution_time_ms DESC", "name"])
    assert seen == expected_order([r for r in ROWS if predicate(r)], order)


def test_last_page_exactly_full_has_no_token(many: EngineStore) -> None:
    page = search_traces(many, ["1"], max_results=COUNT)
    assert len(page.trace_infos) == COUNT
    assert page.next_page_token is None
    page = search_traces(many, ["1"], max_results=COUNT - 1)
    assert page.next_page_token is not None


def test_no_offset_scan(many: EngineStore) -> None:
    first = search_traces(many, ["1"], max_results=10)
    search_traces(many, ["1"], max_results=10, page_token=first.next_page_token)
    sql = str(many.statements[-1].compile(many.engine, compile_kwargs={"literal_binds": True})).upper()
    assert "LIMIT 11" in sql
    # SQLite's compiler always writes an OFFSET after LIMIT; it must stay zero.
    assert "OFFSET" not in sql or "OFFSET 0" in sql
    assert "TRACES.REQUEST_TIME <=" in sql


# Scoping, results and argument checks ---------------------------------------------------------


@pytest.fixture
def small(db: Db) -> EngineStore:
    db.experiment(3, lifecycle_stage="deleted")
    db.add(
        {"trace_id": "a1", "experiment_id": 1, "request_time": 10, "name": "x", "tags": {"k": "v"}},
        {"trace_id": "a2", "experiment_id": 1, "request_time": 20, "name": "y"},
        {"trace_id": "b1", "experiment_id": 2, "request_time": 15, "name": "x"},
        {"trace_id": "c1", "experiment_id": 3, "request_time": 30, "name": "x"},
    )
    return EngineStore(db.engine)


def trace_ids(page: SearchPage) -> list[str]:
    return [info.trace_id for info in page.trace_infos]


def test_results_are_trace_infos_in_search_order(small: EngineStore) -> None:
    page = search_traces(small, ["1", "2"], order_by=["timestamp_ms ASC"])
    assert trace_ids(page) == ["a1", "b1", "a2"]  # the store hands them back in another order
    assert all(isinstance(info, TraceInfo) for info in page.trace_infos)
    assert page.trace_infos[0].tags == {"k": "v"}
    assert page.next_page_token is None


@pytest.mark.parametrize(
    ("experiment_ids", "expected"),
    [
        (None, ["a2", "b1", "a1"]),  # every active experiment, newest first
        (["1"], ["a2", "a1"]),
        (["2", "1"], ["a2", "b1", "a1"]),
        (["3"], ["c1"]),  # asked for by id: searched even though deleted
        (["99"], []),
        ([], []),
        (" 2 ", ["b1"]),  # a lone string is one id
    ],
)
def test_experiment_scope(small: EngineStore, experiment_ids: Sequence[str] | None, expected: list[str]) -> None:
    assert trace_ids(search_traces(small, experiment_ids)) == expected


@pytest.mark.parametrize("bad", [["abc"], ["1", "x1"], ["-1"], ["1.0"], ["٣"]])
def test_invalid_experiment_ids(small: EngineStore, bad: list[str]) -> None:
    with pytest.raises(QueryError, match="is not a valid id"):
        search_traces(small, bad)


def test_filter_applies(small: EngineStore) -> None:
    assert trace_ids(search_traces(small, None, "name = 'x'")) == ["b1", "a1"]
    assert trace_ids(search_traces(small, None, "tags.k = 'v' OR timestamp_ms > 19")) == ["a2", "a1"]
    assert trace_ids(search_traces(small, None, "")) == ["a2", "b1", "a1"]


def test_filter_errors_propagate(small: EngineStore) -> None:
    with pytest.raises(QueryError) as caught:
        search_traces(small, None, "name = ")
    assert caught.value.position == 7
    with pytest.raises(QueryError, match="order_by"):
        search_traces(small, None, order_by=["colour"])


@pytest.mark.parametrize("max_results", [0, -1, MAX_RESULTS_LIMIT + 1, True, 1.5, "10", None])
def test_max_results_bounds(small: EngineStore, max_results: Any) -> None:
    with pytest.raises(QueryError, match="max_results"):
        search_traces(small, None, max_results=max_results)


def test_max_results_extremes(small: EngineStore) -> None:
    assert len(search_traces(small, None, max_results=MAX_RESULTS_LIMIT).trace_infos) == 3
    page = search_traces(small, None, max_results=1)
    assert trace_ids(page) == ["a2"]
    assert page.next_page_token is not None


def test_trace_deleted_between_reads_is_skipped(small: EngineStore) -> None:
    class Forgetful(EngineStore):
        def get_trace_infos(self, trace_ids: Sequence[str]) -> list[TraceInfo]:
            return [info for info in super().get_trace_infos(trace_ids) if info.trace_id != "b1"]

    page = search_traces(Forgetful(small.engine), None, max_results=2)
    assert trace_ids(page) == ["a2"]
    rest = search_traces(Forgetful(small.engine), None, max_results=2, page_token=page.next_page_token)
    assert trace_ids(rest) == ["a1"]


def test_new_traces_do_not_shift_pages(db: Db) -> None:
    db.add(*({"trace_id": f"t{i:02d}", "request_time": i} for i in range(10)))
    store = EngineStore(db.engine)
    first = search_traces(store, ["1"], max_results=4)
    assert trace_ids(first) == ["t09", "t08", "t07", "t06"]
    db.add({"trace_id": "t99", "request_time": 100})  # newer than the current position: not seen
    second = search_traces(store, ["1"], max_results=4, page_token=first.next_page_token)
    assert trace_ids(second) == ["t05", "t04", "t03", "t02"]


# Page tokens ----------------------------------------------------------------------------------


@pytest.fixture
def token(small: EngineStore) -> str:
    page = search_traces(small, None, "name = 'x'", order_by=["timestamp_ms DESC"], max_results=1)
    assert page.next_page_token is not None
    return page.next_page_token


def test_token_is_opaque_url_safe(token: str) -> None:
    assert set(token) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")


def test_token_accepted_by_the_same_query_spelled_differently(small: EngineStore, token: str) -> None:
    page = search_traces(small, None, "  NAME='x'  ", order_by=["trace.timestamp desc"], page_token=token)
    assert trace_ids(page) == ["a1"]


@pytest.mark.parametrize(
    ("experiment_ids", "filter_string", "order_by"),
    [
        (None, "name = 'y'", ["timestamp_ms DESC"]),
        (None, None, ["timestamp_ms DESC"]),
        (None, "name = 'x'", ["timestamp_ms ASC"]),
        (None, "name = 'x'", ["name"]),
        (["1"], "name = 'x'", ["timestamp_ms DESC"]),
    ],
)
def test_token_from_another_query_is_refused(
    small: EngineStore, token: str, experiment_ids: list[str] | None, filter_string: str | None, order_by: list[str]
) -> None:
    with pytest.raises(QueryError, match="different query"):
        search_traces(small, experiment_ids, filter_string, order_by=order_by, page_token=token)


def _forge(payload: Any) -> str:
    return base64.urlsafe_b64encode(json.dumps(payload).encode()).decode().rstrip("=")


def _decoded(token: str) -> dict[str, Any]:
    result: dict[str, Any] = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
    return result


@pytest.mark.parametrize(
    "mutate",
    [
        lambda t: "not a token",
        lambda t: "!!!!",
        lambda t: t[:-3],
        lambda t: t + "A",
        lambda t: "A" * 20_000,
        lambda t: _forge([1, 2]),
        lambda t: _forge({**_decoded(t), "v": 2}),
        lambda t: _forge({**_decoded(t), "k": _decoded(t)["k"][:1]}),
        lambda t: _forge({**_decoded(t), "k": ["15", "b1"]}),  # a string where a number belongs
        lambda t: _forge({**_decoded(t), "k": [None, "b1"]}),  # NULL in a NOT NULL column
        lambda t: _forge({**_decoded(t), "k": [True, "b1"]}),
        lambda t: _forge({**_decoded(t), "k": [15.5, "b1"]}),  # a float for an integer column
        lambda t: _forge({**_decoded(t), "k": [2**64, "b1"]}),  # beyond BIGINT
        lambda t: _forge({**_decoded(t), "k": [15, 7]}),
        lambda t: base64.urlsafe_b64encode(b"\xff\xfe").decode(),
    ],
)
def test_malformed_tokens_are_refused(small: EngineStore, token: str, mutate: Any) -> None:
    with pytest.raises(QueryError, match="page token"):
        search_traces(small, None, "name = 'x'", order_by=["timestamp_ms DESC"], page_token=mutate(token))


def test_forged_token_with_valid_types_only_moves_the_start(small: EngineStore, token: str) -> None:
    forged = _forge({**_decoded(token), "k": [10**12, "' OR 1=1 --"]})
    page = search_traces(small, None, "name = 'x'", order_by=["timestamp_ms DESC"], page_token=forged)
    assert trace_ids(page) == ["b1", "a1"]


def test_empty_token_means_first_page(small: EngineStore) -> None:
    assert trace_ids(search_traces(small, None, page_token="")) == ["a2", "b1", "a1"]
