"""Registering scorers on experiments: versions, updates, state, validation."""

from __future__ import annotations

import pytest

from monitoring.scorers import sample_scorers
from tracelake.exceptions import ConfigError, NotFoundError, QueryError
from tracelake.monitoring import (
    Guidelines,
    Safety,
    delete_scorer,
    get_scorer,
    list_scorers,
    set_scorer_state,
    update_scorer,
)
from tracelake.store import SqlTraceStore


def test_register_list_update_stop_delete(any_store: SqlTraceStore) -> None:
    polite = Guidelines(name="polite", guidelines=["The response is polite."]).register(
        experiment="support-agent",
        sample_rate=0.2,
        filter_string="metadata.environment = 'production'",
        store=any_store,
    )
    concise = sample_scorers.concise.register(experiment="support-agent", max_calls_per_hour=100, store=any_store)
    assert (polite.version, polite.kind, polite.sample_rate, polite.state) == (1, "builtin", 0.2, "active")
    assert polite.definition["guidelines"] == ["The response is polite."]
    assert concise.kind == "code" and concise.max_calls_per_hour == 100
    assert [s.name for s in list_scorers("support-agent", store=any_store)] == ["concise", "polite"]

    updated = update_scorer("support-agent", "polite", sample_rate=1.0, filter_string="", store=any_store)
    assert (updated.sample_rate, updated.filter_string, updated.version) == (1.0, None, 1)

    # New guidelines: a new version, starting from now.
    again = Guidelines(name="polite", guidelines=["Be polite and brief."]).register("support-agent", store=any_store)
    assert again.version == 2 and again.version_time >= polite.version_time
    assert again.scorer_id == polite.scorer_id

    assert set_scorer_state("support-agent", "polite", "stopped", store=any_store).state == "stopped"
    delete_scorer("support-agent", "polite", store=any_store)
    with pytest.raises(NotFoundError, match="no scorer named 'polite'"):
        get_scorer("support-agent", "polite", store=any_store)
    assert [s.name for s in list_scorers(store=any_store)] == ["concise"]


@pytest.mark.parametrize(
    ("options", "error", "message"),
    [
        ({"sample_rate": 1.5}, ConfigError, "sample_rate"),
        ({"sample_rate": True}, ConfigError, "sample_rate"),
        ({"filter_string": "colour = 'red'"}, QueryError, "unknown field 'colour'"),
        ({"max_calls_per_hour": 0}, ConfigError, "max_calls_per_hour"),
        ({"max_cost_per_hour": -1.0}, ConfigError, "max_cost_per_hour"),
    ],
)
def test_bad_registrations_are_refused_and_store_nothing(
    store: SqlTraceStore, options: dict[str, object], error: type[Exception], message: str
) -> None:
    with pytest.raises(error, match=message):
        Safety().register("support-agent", store=store, **options)  # type: ignore[arg-type]
    assert list_scorers(store=store) == []


def test_unknown_experiment_and_state(store: SqlTraceStore) -> None:
    with pytest.raises(NotFoundError, match="no experiment named 'nope'"):
        list_scorers("nope", store=store)
    Safety().register("support-agent", store=store)
    with pytest.raises(ConfigError, match="'paused'"):
        set_scorer_state("support-agent", "safety", "paused", store=store)
