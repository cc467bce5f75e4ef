"""The settings API under the REST routes and the CLI: judges built by name, changes that keep or clear
a setting, registrations by experiment id; and `tracelake scorers register | update` on a local store."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from monitoring.scorers import sample_scorers
from tracelake.cli import main
from tracelake.exceptions import ConfigError, NotFoundError, QueryError
from tracelake.monitoring.scorers import registry
from tracelake.monitoring.scorers.registry import KEEP
from tracelake.store import SqlTraceStore, open_embedded_store


def test_a_built_in_judge_is_built_from_its_name_and_parameters() -> None:
    polite = registry.builtin_judge("Guidelines", "polite", {"guidelines": ["Be polite."], "model": "gpt-4o"})
    assert polite.definition() == {
        "judge": "Guidelines",
        "name": "polite",
        "model": "gpt-4o",
        "guidelines": ["Be polite."],
    }
    assert registry.builtin_judge("Safety").name == "safety"
    for judge, name, parameters, message in [
        ("Oracle", None, {}, "unknown built-in judge 'Oracle': expected one of ConversationCompleteness"),
        ("Safety", None, {"guidelines": ["x"]}, "judge Safety takes no parameter 'guidelines' (it takes: model)"),
        ("Guidelines", None, {"guidelines": "  "}, "at least one non-empty guideline"),
        ("Guidelines", None, {"guidelines": 3}, "invalid parameters for judge Guidelines"),
        ("Safety", None, {"model": ""}, "model must be a model name"),
        ("Safety", "x" * 251, {}, "1 to 250 characters"),
        ("Safety", " ", {}, "not blank"),
    ]:
        with pytest.raises(ConfigError, match=re.escape(message)):
            registry.builtin_judge(judge, name, parameters)


def test_changes_keep_what_is_not_named_and_clear_what_is_none(any_store: SqlTraceStore) -> None:
    experiment_id = any_store.create_experiment("support").experiment_id
    saved, created = registry.save_registration(
        any_store,
        experiment_id,
        registry.builtin_judge("Safety"),
        sample_rate=0.5,
        filter_string="status = 'OK'",
        max_calls_per_hour=10,
        max_cost_per_hour=1.5,
    )
    assert created and (saved.sample_rate, saved.filter_string, saved.max_cost_per_hour) == (0.5, "status = 'OK'", 1.5)
    again, created = registry.save_registration(any_store, experiment_id, registry.builtin_judge("Safety"))
    assert not created and again.scorer_id == saved.scorer_id and again.version == 1

    stopped = registry.change_registration(any_store, experiment_id, "safety", state="stopped", max_calls_per_hour=None)
    assert (stopped.state, stopped.max_calls_per_hour, stopped.sample_rate) == ("stopped", None, 1.0)
    cleared = registry.change_registration(any_store, experiment_id, "safety", filter_string="", max_cost_per_hour=None)
    assert (cleared.filter_string, cleared.max_cost_per_hour, cleared.state) == (None, None, "stopped")
    kept = registry.change_registration(any_store, experiment_id, "safety", sample_rate=KEEP, state="active")
    assert (kept.state, kept.sample_rate, kept.version) == ("active", 1.0, 1)

    for changes, error in [
        ({"state": "paused"}, ConfigError),
        ({"sample_rate": 1.01}, ConfigError),
        ({"max_calls_per_hour": 0}, ConfigError),
        ({"max_cost_per_hour": float("nan")}, ConfigError),
        ({"filter_string": "status = "}, QueryError),
    ]:
        with pytest.raises(error):
            registry.change_registration(any_store, experiment_id, "safety", **changes)  # type: ignore[arg-type]
    assert registry.find_registration(any_store, experiment_id, "safety") == kept  # refused: nothing changed
    with pytest.raises(NotFoundError, match=f"no scorer named 'nope' on experiment {experiment_id}"):
        registry.change_registration(any_store, experiment_id, "nope", state="stopped")

    sample_scorers.concise.register(experiment="support", store=any_store)
    assert [found.name for found in registry.list_registrations(any_store, experiment_id)] == ["concise", "safety"]
    assert registry.remove_registration(any_store, experiment_id, "concise").kind == "code"
    assert [found.name for found in registry.list_registrations(any_store)] == ["safety"]


def test_register_and_update_on_a_local_store(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    home = tmp_path / "home"
    with open_embedded_store(home) as store:
        store.create_experiment("support")
    base = ["--home", str(home)]
    register = [*base, "scorers", "register", "Guidelines", "-e", "support", "--name", "polite"]
    assert main([*register, "--guideline", "Be polite.", "--guideline", "Be brief.", "--param", "model=gpt-4o"]) == 0
    assert "Scorer 'polite' (Guidelines, version 1) judges 100%" in capsys.readouterr().out
    assert main([*base, "scorers", "update", "polite", "-e", "support", "--sample-rate", "0.3"]) == 0
    assert main([*base, "scorers", "update", "polite", "-e", "support", "--max-cost-per-hour", "2"]) == 0
    assert main([*base, "scorers", "list", "--json"]) == 0
    [listed] = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith("{")]
    assert listed["definition"] == {
        "judge": "Guidelines",
        "name": "polite",
        "model": "gpt-4o",
        "guidelines": ["Be polite.", "Be brief."],
    }
    assert (listed["sample_rate"], listed["max_cost_per_hour"], listed["version"]) == (0.3, 2.0, 1)
    assert main([*base, "scorers", "update", "polite", "-e", "support", "--no-budget"]) == 0
    assert main([*base, "scorers", "update", "polite", "-e", "support"]) == 2
    assert "nothing to change" in capsys.readouterr().err
    assert main([*base, "scorers", "update", "polite", "-e", "support", "--filter", "status = "]) == 2
    assert main([*base, "scorers", "register", "Safety", "-e", "nowhere"]) == 1
    assert "no experiment named 'nowhere'" in capsys.readouterr().err
    with open_embedded_store(home) as store:
        [found] = registry.list_registrations(store)
    assert (found.max_cost_per_hour, found.filter_string, found.sample_rate) == (None, None, 0.3)
