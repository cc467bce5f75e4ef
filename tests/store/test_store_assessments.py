from __future__ import annotations

import re
from dataclasses import replace
from typing import Any

import pytest
import sqlalchemy as sa

from tracelake.exceptions import ConfigError, ConflictError, NotFoundError
from tracelake.model import (
    Assessment,
    AssessmentError,
    AssessmentKind,
    AssessmentSource,
    AssessmentSourceType,
)
from tracelake.store import SqlTraceStore
from tracelake.store.assessments import create_assessment, update_assessment
from tracelake.store.sql.schema import assessments

from .builders import simple_trace, span_id, trace_id

T = 1_700_000_000_000


@pytest.fixture
def traced(store: SqlTraceStore, experiment_id: str) -> str:
    """Traces 1 and 2 (client request ids "req-1", "req-2"), and trace 3 reusing "req-1" later."""
    store.write_batches(
        experiment_id,
        [
            simple_trace(1, client_request_id="req-1"),
            simple_trace(2, start_ms=10, client_request_id="req-2"),
            simple_trace(3, start_ms=20, client_request_id="req-1"),
        ],
    )
    return experiment_id


def feedback(trace: int = 1, n: int = 1, **changes: Any) -> Assessment:
    base = Assessment(
        assessment_id=f"a-{n:032x}",
        trace_id=trace_id(trace),
        name="thumbs",
        kind=AssessmentKind.FEEDBACK,
        value=True,
        source=AssessmentSource(AssessmentSourceType.HUMAN, "alice@example.com"),
        create_time_ms=T + n,
        last_update_time_ms=T + n,
    )
    return replace(base, **changes)


def count_rows(store: SqlTraceStore, trace: int | None = None) -> int:
    query = sa.select(sa.func.count()).select_from(assessments)
    if trace is not None:
        query = query.where(assessments.c.trace_id == trace_id(trace))
    return int(store.execute_read(query)[0][0])


def test_add_get_list_and_round_trip(store: SqlTraceStore, traced: str) -> None:
    full = feedback(
        n=1,
        value={"score": 0.5, "labels": ["a", "é"]},
        rationale="half right",
        span_id=span_id(2),
        metadata={"ticket": "T-1"},
    )
    stored = store.add_assessment(full)
    store.add_assessment(feedback(n=2, name="comment", value="great answer"))

    assert stored == replace(full, experiment_id=traced)
    assert store.get_assessment(trace_id(1), full.assessment_id) == stored
    assert [a.name for a in store.list_assessments(trace_id(1))] == ["thumbs", "comment"]
    assert store.list_assessments(trace_id(2)) == []


def test_get_trace_carries_its_assessments(store: SqlTraceStore, traced: str) -> None:
    store.add_assessment(feedback(1, 1))
    store.add_assessment(feedback(1, 2, kind=AssessmentKind.EXPECTATION, name="expected", value="42"))

    assert [a.assessment_id for a in store.get_trace(trace_id(1)).info.assessments] == [
        feedback(1, 1).assessment_id,
        feedback(1, 2).assessment_id,
    ]
    assert [a.kind for a in store.get_trace_info(trace_id(1)).assessments] == ["feedback", "expectation"]
    assert store.get_trace_info(trace_id(2)).assessments == []


def test_adding_feedback_bumps_the_trace(store: SqlTraceStore, traced: str) -> None:
    before = store.execute_read(sa.text(f"SELECT last_update_time FROM traces WHERE trace_id = '{trace_id(1)}'"))
    store.add_assessment(feedback(1, 1))
    after = store.execute_read(sa.text(f"SELECT last_update_time FROM traces WHERE trace_id = '{trace_id(1)}'"))

    assert after[0][0] >= before[0][0]


@pytest.mark.parametrize(
    ("value", "numeric"),
    [
        (True, 1.0),
        (False, 0.0),
        (3, 3.0),
        (0.25, 0.25),
        ("yes", 1.0),  # a judge's verdict counts like a boolean
        ("No", 0.0),
        ("maybe", None),
        ({"a": 1}, None),
        ([1], None),
        (10**400, None),
    ],
)
def test_numeric_value_column(store: SqlTraceStore, traced: str, value: Any, numeric: float | None) -> None:
    store.add_assessment(feedback(value=value))

    rows = store.execute_read(sa.select(assessments.c.numeric_value))
    assert rows[0][0] == numeric
    assert store.list_assessments(trace_id(1))[0].value == value


def test_missing_trace_span_and_assessment(store: SqlTraceStore, traced: str) -> None:
    with pytest.raises(NotFoundError, match="no trace"):
        store.add_assessment(feedback(99))
    with pytest.raises(ConfigError, match="span_id"):
        store.add_assessment(feedback(1, span_id=span_id(77)))
    with pytest.raises(NotFoundError, match="no trace"):
        store.list_assessments(trace_id(99))
    with pytest.raises(NotFoundError, match="has no assessment"):
        store.get_assessment(trace_id(1), "a-missing")
    with pytest.raises(NotFoundError, match="no trace"):
        store.get_assessment(trace_id(99), "a-missing")
    with pytest.raises(NotFoundError, match="has no assessment"):
        store.update_assessment(trace_id(1), "a-missing", {"value": False})
    with pytest.raises(NotFoundError, match="has no assessment"):
        store.delete_assessment(trace_id(1), "a-missing")
    assert count_rows(store) == 0


def test_an_assessment_belongs_to_its_trace(store: SqlTraceStore, traced: str) -> None:
    added = store.add_assessment(feedback(1, 1))

    with pytest.raises(NotFoundError):
        store.get_assessment(trace_id(2), added.assessment_id)
    with pytest.raises(NotFoundError):
        store.delete_assessment(trace_id(2), added.assessment_id)
    assert count_rows(store, 1) == 1


def test_duplicate_id_conflicts(store: SqlTraceStore, traced: str) -> None:
    store.add_assessment(feedback(1, 1))

    with pytest.raises(ConflictError):
        store.add_assessment(feedback(2, 1))
    assert count_rows(store) == 1


def test_store_enforces_the_rules(store: SqlTraceStore, traced: str) -> None:
    with pytest.raises(ConfigError, match=r"'error'.*expectation"):
        store.add_assessment(feedback(kind=AssessmentKind.EXPECTATION, error=AssessmentError("E")))
    with pytest.raises(ConfigError, match="'value'"):
        store.add_assessment(feedback(value=None))
    with pytest.raises(ConfigError, match="'value'"):
        store.add_assessment(feedback(value=float("nan")))
    with pytest.raises(ConfigError, match="'name'"):
        store.add_assessment(feedback(name=""))
    with pytest.raises(ConfigError, match=r"'rationale'.*NUL"):
        store.add_assessment(feedback(rationale="a\x00b"))
    assert count_rows(store) == 0


def test_update_changes_only_the_given_fields(store: SqlTraceStore, traced: str) -> None:
    added = store.add_assessment(feedback(rationale="first", metadata={"k": "v"}))

    updated = store.update_assessment(trace_id(1), added.assessment_id, {"value": False, "rationale": None})

    assert updated.value is False
    assert updated.rationale is None
    assert updated.metadata == {"k": "v"}
    assert updated.source == added.source
    assert updated.create_time_ms == added.create_time_ms
    assert updated.last_update_time_ms > added.last_update_time_ms
    assert store.get_assessment(trace_id(1), added.assessment_id) == updated
    assert store.execute_read(sa.select(assessments.c.numeric_value))[0][0] == 0.0


def test_update_keeps_the_rules(store: SqlTraceStore, traced: str) -> None:
    expectation = store.add_assessment(feedback(kind=AssessmentKind.EXPECTATION, value="42"))
    judged = store.add_assessment(feedback(n=2, value=None, error=AssessmentError("TIMEOUT", "judge timed out")))

    with pytest.raises(ConfigError, match="expectation cannot carry an error"):
        store.update_assessment(trace_id(1), expectation.assessment_id, {"error": AssessmentError("E")})
    with pytest.raises(ConfigError, match="needs a value"):
        store.update_assessment(trace_id(1), judged.assessment_id, {"error": None})
    assert store.get_assessment(trace_id(1), expectation.assessment_id) == expectation
    fixed = store.update_assessment(trace_id(1), judged.assessment_id, {"value": 0.9, "error": None})
    assert (fixed.value, fixed.error) == (0.9, None)


def test_delete_assessment(store: SqlTraceStore, traced: str) -> None:
    first = store.add_assessment(feedback(1, 1))
    store.add_assessment(feedback(1, 2))

    store.delete_assessment(trace_id(1), first.assessment_id)

    assert [a.assessment_id for a in store.list_assessments(trace_id(1))] == [feedback(1, 2).assessment_id]
    with pytest.raises(NotFoundError):
        store.delete_assessment(trace_id(1), first.assessment_id)


def test_deleting_traces_deletes_their_assessments(store: SqlTraceStore, traced: str) -> None:
    store.add_assessment(feedback(1, 1))
    store.add_assessment(feedback(1, 2))
    store.add_assessment(feedback(2, 3))

    assert store.delete_traces(traced, trace_ids=[trace_id(1)]) == 1

    assert count_rows(store, 1) == 0
    assert count_rows(store, 2) == 1


def test_find_trace_by_client_request_id(store: SqlTraceStore, traced: str) -> None:
    store.add_assessment(feedback(2, 1))

    latest = store.find_trace_by_client_request_id(traced, "req-1")
    other = store.find_trace_by_client_request_id(traced, "req-2")

    assert latest is not None and latest.trace_id == trace_id(3)  # the most recent of the two
    assert other is not None and [a.assessment_id for a in other.assessments] == [feedback(2, 1).assessment_id]
    assert store.find_trace_by_client_request_id(traced, "nope") is None
    elsewhere = store.create_experiment("elsewhere").experiment_id
    assert store.find_trace_by_client_request_id(elsewhere, "req-1") is None
    with pytest.raises(NotFoundError, match="experiment"):
        store.find_trace_by_client_request_id("424242", "req-1")


# The shared validation (tracelake.store.assessments) on a real store -----------------------------


def test_create_from_input_by_trace_id(store: SqlTraceStore, traced: str) -> None:
    created = create_assessment(
        store,
        {
            "name": "user_feedback",
            "kind": "feedback",
            "value": False,
            "rationale": "wrong city",
            "source": {"source_type": "human", "source_id": "u-7"},
            "span_id": span_id(1),
            "metadata": {"channel": "web"},
        },
        trace_id=trace_id(1),
    )

    assert created.assessment_id.startswith("a-") and len(created.assessment_id) == 34
    assert created.source == AssessmentSource(AssessmentSourceType.HUMAN, "u-7")
    assert created.experiment_id == traced
    assert store.list_assessments(trace_id(1)) == [created]


def test_create_from_input_by_client_request_id(store: SqlTraceStore, traced: str) -> None:
    created = create_assessment(
        store, {"name": "expected", "kind": "expectation", "value": {"answer": 42}}, None, "req-1", traced
    )

    assert created.trace_id == trace_id(3)
    assert created.source == AssessmentSource()  # CODE / default
    with pytest.raises(NotFoundError, match="client request id 'nope'"):
        create_assessment(store, {"name": "x", "kind": "feedback", "value": 1}, None, "nope", traced)
    with pytest.raises(ConfigError, match="experiment_id"):
        create_assessment(store, {"name": "x", "kind": "feedback", "value": 1}, None, "req-1", None)
    with pytest.raises(ConfigError, match="exactly one"):
        create_assessment(store, {"name": "x", "kind": "feedback", "value": 1}, trace_id(1), "req-1", traced)


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"kind": "feedback", "value": 1}, "name"),
        ({"name": " ", "kind": "feedback", "value": 1}, "name"),
        ({"name": "x" * 251, "kind": "feedback", "value": 1}, "name"),
        ({"name": "x", "kind": "opinion", "value": 1}, "kind"),
        ({"name": "x", "kind": "feedback"}, "value"),
        ({"name": "x", "kind": "feedback", "value": object()}, "value"),
        ({"name": "x", "kind": "feedback", "value": 1, "rationale": 5}, "rationale"),
        ({"name": "x", "kind": "feedback", "value": 1, "source": {"source_type": "ROBOT"}}, "source.source_type"),
        ({"name": "x", "kind": "feedback", "value": 1, "source": {"source_id": ""}}, "source.source_id"),
        ({"name": "x", "kind": "feedback", "value": 1, "span_id": 12}, "span_id"),
        ({"name": "x", "kind": "feedback", "value": 1, "span_id": "ffffffffffffffff"}, "span_id"),
        ({"name": "x", "kind": "feedback", "value": 1, "metadata": {"k": 1}}, "metadata.k"),
        ({"name": "x", "kind": "feedback", "value": 1, "error": {"error_message": "m"}}, "error.error_code"),
        ({"name": "x", "kind": "expectation", "value": 1, "error": {"error_code": "E"}}, "error"),
        ({"name": "x", "kind": "feedback", "value": 1, "colour": "red"}, "colour"),
    ],
)
def test_invalid_input_names_the_field(store: SqlTraceStore, traced: str, body: dict[str, Any], field: str) -> None:
    with pytest.raises(ConfigError, match=re.escape(f"'{field}'")):
        create_assessment(store, body, trace_id(1))
    assert count_rows(store) == 0


def test_feedback_with_only_an_error(store: SqlTraceStore, traced: str) -> None:
    created = create_assessment(
        store,
        {
            "name": "safety",
            "kind": "feedback",
            "error": {"error_code": "RATE_LIMITED"},
            "source": {"source_type": "LLM_JUDGE", "source_id": "gpt-4o"},
        },
        trace_id(1),
    )

    assert created.value is None
    assert created.error == AssessmentError("RATE_LIMITED", "")


def test_update_from_a_patch_body(store: SqlTraceStore, traced: str) -> None:
    created = create_assessment(store, {"name": "thumbs", "kind": "feedback", "value": True}, trace_id(1))

    updated = update_assessment(
        store,
        trace_id(1),
        created.assessment_id,
        {"value": False, "rationale": "changed my mind", "source": {"source_type": "HUMAN", "source_id": "bob"}},
    )

    assert (updated.value, updated.rationale, updated.source.source_id) == (False, "changed my mind", "bob")
    with pytest.raises(ConfigError, match="at least one"):
        update_assessment(store, trace_id(1), created.assessment_id, {})
    with pytest.raises(ConfigError, match="'name'"):
        update_assessment(store, trace_id(1), created.assessment_id, {"name": "renamed"})
    with pytest.raises(ConfigError, match="'metadata"):
        update_assessment(store, trace_id(1), created.assessment_id, {"metadata": ["a"]})
    assert store.get_assessment(trace_id(1), created.assessment_id) == updated
