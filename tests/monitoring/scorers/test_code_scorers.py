"""`@scorer` functions: arguments, return types, and how a worker process loads them back."""

from __future__ import annotations

import math
from typing import Any

import pytest

from monitoring.scorers import sample_scorers
from monitoring.scorers.conftest import agent_trace
from tracelake.model import Trace, TraceData, TraceInfo, TraceState
from tracelake.monitoring import CodeScorer, Feedback, Guidelines, ScoringContext, scorer
from tracelake.monitoring.scorers.definitions import ScorerLoadError, load_scorer
from tracelake.monitoring.scorers.feedback import ScorerResultError


def context(answer: str = "We open at 9am.", expectations: dict[str, Any] | None = None) -> ScoringContext:
    batch = agent_trace(3, question="When?", answer=answer)
    return ScoringContext(
        Trace(TraceInfo(batch.trace_id, "1", 0, 5, TraceState.OK), TraceData(batch.spans)), expectations or {}
    )


@pytest.mark.parametrize(
    ("result", "expected"),
    [
        (True, [Feedback(True, name="s")]),
        (3, [Feedback(3, name="s")]),
        (0.25, [Feedback(0.25, name="s")]),
        ("yes", [Feedback("yes", name="s")]),
        (None, []),
        (Feedback("no", rationale="why"), [Feedback("no", rationale="why", name="s")]),
        ([Feedback(1, name="a"), Feedback(2)], [Feedback(1, name="a"), Feedback(2, name="s/1")]),
    ],
)
def test_return_types(result: Any, expected: list[Feedback]) -> None:
    returns = scorer(name="s")(lambda outputs: result)
    assert returns.score(context()) == expected


@pytest.mark.parametrize("result", [{"a": 1}, [1, 2], math.nan, object()])
def test_other_return_values_are_refused(result: Any) -> None:
    returns = scorer(name="s")(lambda outputs: result)
    with pytest.raises(ScorerResultError):
        returns.score(context())


def test_arguments_are_passed_by_name() -> None:
    seen: dict[str, Any] = {}

    @scorer
    def everything(inputs: Any, outputs: Any, expectations: Any, trace: Any) -> bool:
        seen.update(inputs=inputs, outputs=outputs, expectations=expectations, trace=trace)
        return True

    ctx = context(expectations={"expected_response": "9am"})
    everything.score(ctx)
    assert seen["inputs"] == {"question": "When?"}
    assert seen["outputs"] == "We open at 9am."
    assert seen["expectations"] == {"expected_response": "9am"}
    assert seen["trace"] is ctx.trace
    assert everything.needs_expectations
    assert everything(inputs=1, outputs=2, expectations={}, trace=None) is True  # still callable


def test_unknown_arguments_fail_at_decoration() -> None:
    with pytest.raises(TypeError, match="'answer'"):

        @scorer
        def wrong(answer: str) -> bool:
            return True


def test_importable_scorers_are_stored_by_reference() -> None:
    definition = sample_scorers.length.definition()
    assert definition == {"code": "monitoring.scorers.sample_scorers:length", "name": "answer_length"}
    loaded = load_scorer("code", definition)
    assert isinstance(loaded, CodeScorer) and loaded.name == "answer_length"
    assert loaded.score(context("abcd")) == [Feedback(4, name="answer_length")]
    plain = load_scorer("code", {"code": "monitoring.scorers.sample_scorers:plain_function", "name": "half"})
    assert plain.score(context()) == [Feedback(0.5, name="half")]


def test_scripts_and_notebooks_store_the_source() -> None:
    @scorer(name="mentions_hours")
    def mentions(outputs: Any) -> Feedback:
        import re

        return Feedback(value=bool(re.search(r"\d+am", str(outputs))), rationale="looked for a time")

    definition = mentions.definition()
    assert definition["function"] == "mentions"
    assert definition["source"].startswith("def mentions(outputs: Any) -> Feedback:")
    loaded = load_scorer("code", definition)
    assert loaded.score(context()) == [Feedback(True, rationale="looked for a time", name="mentions_hours")]


def test_builtin_judges_round_trip() -> None:
    judge = Guidelines(name="polite", guidelines=["Be polite."], model="judge-model")
    loaded = load_scorer("builtin", judge.definition())
    assert isinstance(loaded, Guidelines)
    assert (loaded.name, loaded.guidelines, loaded.model) == ("polite", ["Be polite."], "judge-model")


@pytest.mark.parametrize(
    ("kind", "definition", "message"),
    [
        ("code", {"code": "no_such_module:f", "name": "x"}, "cannot import module 'no_such_module'"),
        ("code", {"code": "monitoring.scorers.sample_scorers:nope", "name": "x"}, "has no 'nope'"),
        ("code", {"code": "no-colon", "name": "x"}, "module:function"),
        ("code", {"source": "def f(:", "function": "f", "name": "x"}, "does not run"),
        ("code", {"source": "x = 1", "function": "f", "name": "x"}, "defines no function 'f'"),
        ("builtin", {"judge": "Nope", "name": "x"}, "unknown built-in judge"),
        ("builtin", {"judge": "Safety", "name": "x", "colour": 1}, "invalid definition"),
        ("other", {"name": "x"}, "invalid definition"),
    ],
)
def test_bad_definitions_are_named(kind: str, definition: dict[str, Any], message: str) -> None:
    with pytest.raises(ScorerLoadError, match=message):
        load_scorer(kind, definition)
