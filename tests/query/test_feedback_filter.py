"""`feedback.<name>` in filters: labels, numbers, bools, membership and absence, on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tracelake.exceptions import QueryError
from tracelake.model import (
    Assessment,
    AssessmentError,
    AssessmentKind,
    AssessmentSource,
    AssessmentSourceType,
    Span,
    SpanStatus,
    StatusCode,
    TraceBatch,
)
from tracelake.query import parse_filter, search_traces
from tracelake.query.nodes import unparse
from tracelake.store import SqlTraceStore
from tracelake.store.assessments import new_assessment_id

from .database import BACKENDS
from .test_search_store import open_store

T0 = 1_700_000_000_000


def trace(n: int) -> TraceBatch:
    trace_id = f"{n:032x}"
    start = (T0 + n) * 1_000_000
    root = Span(trace_id, f"{n:016x}", None, "agent", "AGENT", start, start + 1_000_000, SpanStatus(StatusCode.OK))
    return TraceBatch(trace_id, [root])


def judge(
    trace_id: str, name: str, value: Any, *, kind: AssessmentKind = AssessmentKind.FEEDBACK, error: bool = False
) -> Assessment:
    return Assessment(
        assessment_id=new_assessment_id(),
        trace_id=trace_id,
        name=name,
        kind=kind,
        value=None if error else value,
        source=AssessmentSource(AssessmentSourceType.LLM_JUDGE, "polite"),
        create_time_ms=T0,
        last_update_time_ms=T0,
        error=AssessmentError("JUDGE_TIMEOUT", "slow") if error else None,
    )


@pytest.fixture(scope="module", params=BACKENDS)
def judged(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[SqlTraceStore, str]]:
    folder: Path = tmp_path_factory.mktemp("feedback")
    with open_store(request.param, folder) as store:
        experiment = store.create_experiment("judged").experiment_id
        store.write_batches(experiment, [trace(n) for n in range(1, 7)])
        ids = [f"{n:032x}" for n in range(1, 7)]
        for assessment in [
            judge(ids[0], "polite", "yes"),
            judge(ids[0], "score", 4.5),
            judge(ids[0], "concise", True),
            judge(ids[1], "polite", "no"),
            judge(ids[1], "score", 2),
            judge(ids[1], "concise", False),
            judge(ids[2], "polite", "it's fine"),
            judge(ids[3], "polite", None, error=True),  # a judge that failed has no value
            judge(ids[4], "polite", "yes", kind=AssessmentKind.EXPECTATION),  # not feedback
            judge(ids[5], "polite", "no"),
            judge(ids[5], "polite", "yes"),  # a user and a judge disagree: either matches
        ]:
            store.add_assessment(assessment)
        yield store, experiment


CASES = [
    ("feedback.polite = 'yes'", [1, 6]),
    ("feedback.polite != 'yes'", [2, 3, 6]),
    ("feedback.polite IN ('no', 'it''s fine')", [2, 3, 6]),
    ("feedback.polite NOT IN ('yes')", [2, 3, 6]),
    ("feedback.polite LIKE 'it%'", [3]),
    ("feedback.polite ILIKE 'YE%'", [1, 6]),
    ("feedback.polite IS NULL", [4, 5]),
    ("feedback.polite IS NOT NULL", [1, 2, 3, 6]),
    ("feedback.score >= 3", [1]),
    ("feedback.score < 4.5", [2]),
    ("feedback.score = 2", [2]),
    ("feedback.score IN (2, 9)", [2]),
    ("feedback.concise = 1", [1]),
    ("feedback.concise = 'true'", [1]),
    ("feedback.concise = 'false'", [2]),
    ("feedback.polite = 'yes' AND feedback.score > 4", [1]),
    ("feedback.`polite` = 'no' OR feedback.score = 2", [2, 6]),
    ("feedback.missing = 'x'", []),
]


@pytest.mark.parametrize(("filter_string", "expected"), CASES)
def test_feedback_filters(judged: tuple[SqlTraceStore, str], filter_string: str, expected: list[int]) -> None:
    store, experiment = judged
    page = search_traces(store, [experiment], filter_string, order_by=["timestamp_ms"], max_results=100)
    assert [int(info.trace_id, 16) for info in page.trace_infos] == expected


def test_feedback_filters_round_trip() -> None:
    text = "feedback.`my judge` = 'yes' AND feedback.score >= 3.5"
    assert unparse(parse_filter(text)) == text


@pytest.mark.parametrize(
    ("filter_string", "message"),
    [
        ("feedback.polite > 'yes'", "needs a number"),
        ("feedback.polite LIKE 3", "needs a quoted pattern"),
        ("feedback = 'yes'", "needs a name after it"),
    ],
)
def test_bad_feedback_filters(filter_string: str, message: str) -> None:
    with pytest.raises(QueryError, match=message):
        parse_filter(filter_string)
