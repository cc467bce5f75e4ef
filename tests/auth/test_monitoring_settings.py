"""Archive and scorer settings over REST on a server with auth: who may read and change them, what is
refused (and then not written), what the audit log records; through the typed client and the CLI."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest

from tracelake.cli import main
from tracelake.client import Client, ClientError
from tracelake.exceptions import ConfigError, NotFoundError, QueryError
from tracelake.monitoring import (
    Guidelines,
    Safety,
    delete_scorer,
    get_scorer,
    list_scorers,
    scorer,
    set_scorer_state,
    update_scorer,
)
from tracelake.monitoring.archive import settings as archive_settings
from tracelake.monitoring.archive.sync import run_sync
from tracelake.monitoring.scorers import registry

from .conftest import AuthServer
from .worlds import ok, otlp_body


@scorer
def concise(outputs: Any) -> bool:
    return len(str(outputs)) < 800


def _experiment(server: AuthServer, name: str) -> str:
    with server.client(server.tokens["root"]) as root:
        experiment_id: str = ok(root.post("/api/v1/experiments", json={"name": name}))["experiment"]["experiment_id"]
        body = otlp_body(f"{abs(hash(name)) % 10**30:032x}", "00000000000000a1", client_request_id=f"{name}-1")
        headers = {"content-type": "application/json", "x-tracelake-experiment-id": experiment_id}
        ok(root.post("/v1/traces", content=body, headers=headers))
    return experiment_id


def _team(server: AuthServer, experiment_id: str) -> tuple[str, str, str]:
    """alice manages the experiment, bob reads it, carol holds nothing on it."""
    alice, bob, carol = server.user("alice"), server.user("bob"), server.user("carol")
    server.grant("alice", experiment_id, "CAN_MANAGE")
    server.grant("bob", experiment_id, "CAN_READ")
    return alice, bob, carol


def _audit(server: AuthServer, action: str) -> list[dict[str, Any]]:
    with server.client(server.tokens["root"]) as root:
        events = ok(root.get("/api/v1/audit-log", params={"max_results": 1000}))["events"]
    return [event for event in events if event["action"] == action]


def _error(response: httpx.Response, status: int) -> str:
    assert response.status_code == status, response.text
    message: str = response.json()["error"]["message"]
    return message


def test_archive_settings_need_manage_to_change_and_read_to_see(auth_server: AuthServer) -> None:
    experiment_id = _experiment(auth_server, "support")
    alice, bob, carol = _team(auth_server, experiment_id)
    lake = f"{auth_server.settings.default_artifact_root}/lakes/support"
    path = f"/api/v1/experiments/{experiment_id}/archive"
    engine = auth_server.store.engine

    with auth_server.client(bob) as reader:
        assert ok(reader.get(path)) == {"archive": None}
        assert "CAN_MANAGE" in _error(reader.put(path, json={"location": lake}), 403)
        assert "CAN_MANAGE" in _error(reader.delete(path), 403)
    with auth_server.client(carol) as stranger:
        assert _error(stranger.get(path), 404) == f"experiment '{experiment_id}' does not exist"
        assert _error(stranger.put(path, json={"location": lake}), 404).endswith("does not exist")
    assert archive_settings.get_settings(engine, experiment_id) is None

    with Client(auth_server.url, token=alice) as client:
        status = client.set_archive(experiment_id, lake, 120)
        assert (status.location, status.interval_seconds, status.enabled) == (lake, 120, True)
        assert status.experiment_name == "support" and status.last_status is None
        assert status.rows_written == {"traces": 0, "spans": 0, "assessments": 0} and status.lag_ms >= 0

    # The monitor syncs; everyone who can read the experiment sees how it went.
    assert run_sync(auth_server.store, experiment_id, settle_ms=0).traces == 1
    with Client(auth_server.url, token=bob) as client:
        seen = client.get_archive(experiment_id)
        assert seen is not None and seen.last_status == "ok" and seen.lag_ms == 0
        assert seen.rows_written == {"traces": 1, "spans": 1, "assessments": 0}
        assert seen.last_sync_time_ms is not None and seen.last_error is None and not seen.syncing_now
        assert [found.experiment_id for found in client.list_archives()] == [experiment_id]
    with Client(auth_server.url, token=carol) as client:
        assert client.list_archives() == []  # an archive of an experiment carol cannot read is not listed

    with Client(auth_server.url, token=alice) as client:
        client.disable_archive(experiment_id)
        off = client.get_archive(experiment_id)
        assert off is not None and not off.enabled and off.location == lake  # settings and tables stay
    updates, disables = _audit(auth_server, "archive.update"), _audit(auth_server, "archive.disable")
    assert [(e["actor"], e["resource_id"], e["detail"]["location"]) for e in updates] == [
        ("alice", experiment_id, lake)
    ]
    assert [(e["actor"], e["resource_id"]) for e in disables] == [("alice", experiment_id)]


def test_a_bad_archive_location_is_refused_by_name_and_nothing_is_written(
    auth_server: AuthServer, tmp_path: Path
) -> None:
    experiment_id = _experiment(auth_server, "support")
    neighbour = _experiment(auth_server, "billing")
    alice, _, _ = _team(auth_server, experiment_id)
    root = auth_server.settings.default_artifact_root
    taken = f"{root}/lakes/billing"
    archive_settings.enable(auth_server.store.engine, neighbour, taken)
    Path(root, "a-file").write_text("not a folder", encoding="utf-8")
    path = f"/api/v1/experiments/{experiment_id}/archive"
    refused = {
        f"{root}/lakes/../../escape": "path traversal",
        "/etc/tracelake-lake": "outside the allowed artifact roots",
        f"{root}/{neighbour}": "reserved for experiments' payloads",
        f"{root}/models/lake": "reserved for experiments' payloads and model packages",
        root: "holds the artifact root",
        f"{taken}/inner": f"overlaps the archive of experiment {neighbour}",
        f"{root}/a-file": "is not a folder",
        f"{root}/a-file/lake": "cannot create",
        "ftp://example.com/lake": "'ftp' scheme is not supported",
        " ": "is empty",
    }
    with auth_server.client(alice) as manager:
        for location, problem in refused.items():
            message = _error(manager.put(path, json={"location": location}), 400)
            assert message.startswith("invalid archive location") and problem in message, (location, message)
        interval = _error(manager.put(path, json={"location": f"{root}/lakes/ok", "interval_seconds": 0}), 400)
        assert "interval_seconds" in interval
    assert archive_settings.get_settings(auth_server.store.engine, experiment_id) is None
    assert not Path(root, "escape").exists() and not Path(root, "lakes", "ok").exists()
    assert _audit(auth_server, "archive.update") == []


def test_scorers_over_rest_built_in_judges_by_name(auth_server: AuthServer) -> None:
    experiment_id = _experiment(auth_server, "support")
    alice, bob, carol = _team(auth_server, experiment_id)
    concise.register(experiment="support", store=auth_server.store)  # a code scorer, registered from Python

    with Client(auth_server.url, token=alice) as client:
        polite = client.register_judge(
            experiment_id,
            "Guidelines",
            "polite",
            {"guidelines": ["The response is polite."]},
            sample_rate=0.2,
            filter_string="metadata.environment = 'production'",
            max_cost_per_hour=0.5,
        )
        assert (polite.kind, polite.version, polite.state, polite.sample_rate) == ("builtin", 1, "active", 0.2)
        assert polite.definition["guidelines"] == ["The response is polite."] and polite.max_cost_per_hour == 0.5
        # Registering again with other guidelines is a new version of the same scorer.
        again = client.register_judge(experiment_id, "Guidelines", "polite", {"guidelines": ["Be brief."]})
        assert (again.scorer_id, again.version) == (polite.scorer_id, 2)

        stopped = client.update_scorer(experiment_id, "polite", state="stopped", filter_string="", remove_budget=True)
        assert (stopped.state, stopped.filter_string, stopped.max_cost_per_hour, stopped.version) == (
            "stopped",
            None,
            None,
            2,
        )
        code = client.update_scorer(experiment_id, "concise", sample_rate=0.5, max_calls_per_hour=100)
        assert (code.kind, code.sample_rate, code.max_calls_per_hour) == ("code", 0.5, 100)

    with Client(auth_server.url, token=bob) as client:
        listed = client.list_scorers(experiment_id)
        assert [(item.name, item.state) for item in listed] == [("concise", "active"), ("polite", "stopped")]
        assert listed[0].runs == {} and listed[0].calls_last_hour == 0 and listed[0].last_error is None
        assert client.get_scorer(experiment_id, "polite").version == 2
        with pytest.raises(ClientError, match="CAN_MANAGE"):
            client.update_scorer(experiment_id, "polite", state="active")
        with pytest.raises(ClientError, match="CAN_MANAGE"):
            client.register_judge(experiment_id, "Safety")
        assert {item.experiment_id for item in client.list_scorers()} == {experiment_id}
    with Client(auth_server.url, token=carol) as client:
        assert client.list_scorers() == []
        with pytest.raises(NotFoundError):
            client.list_scorers(experiment_id)

    with Client(auth_server.url, token=alice) as client:
        client.delete_scorer(experiment_id, "concise")
        with pytest.raises(NotFoundError, match="no scorer named 'concise'"):
            client.get_scorer(experiment_id, "concise")
    assert [item.name for item in registry.list_registrations(auth_server.store, experiment_id)] == ["polite"]

    registered = [
        (e["actor"], e["detail"]["name"], e["detail"]["version"]) for e in _audit(auth_server, "scorer.register")
    ]
    assert sorted(registered) == [("alice", "polite", 1), ("alice", "polite", 2)]
    updated = [e["detail"] for e in _audit(auth_server, "scorer.update")]
    assert {"name": "concise", "sample_rate": 0.5, "max_calls_per_hour": 100} in updated
    assert [(e["actor"], e["detail"]["name"]) for e in _audit(auth_server, "scorer.delete")] == [("alice", "concise")]


def test_bad_scorer_settings_are_refused_by_name_and_nothing_changes(auth_server: AuthServer) -> None:
    experiment_id = _experiment(auth_server, "support")
    alice, _, _ = _team(auth_server, experiment_id)
    path = f"/api/v1/experiments/{experiment_id}/scorers"
    refused: list[tuple[dict[str, Any], str]] = [
        ({"judge": "Clairvoyance"}, "unknown built-in judge 'Clairvoyance'"),
        ({"judge": "Safety", "sample_rate": 1.5}, "sample_rate"),
        ({"judge": "Safety", "sample_rate": -0.1}, "sample_rate"),
        ({"judge": "Safety", "filter": "status = 'OK'; DROP TABLE traces"}, "position"),
        ({"judge": "Safety", "parameters": {"guidelines": ["x"]}}, "takes no parameter 'guidelines'"),
        ({"judge": "Guidelines", "parameters": {"guidelines": []}}, "at least one non-empty guideline"),
        ({"judge": "Safety", "parameters": {"model": {"evil": 1}}}, "model must be a model name"),
        ({"judge": "Safety", "max_calls_per_hour": 0}, "max_calls_per_hour"),
        ({"code": "os:system", "name": "pwn"}, "code scorers cannot be registered over the REST API"),
        ({"source": "def f(outputs): ...", "name": "pwn"}, "code scorers cannot be registered over the REST API"),
    ]
    with auth_server.client(alice) as manager:
        for body, problem in refused:
            assert problem in _error(manager.post(path, json=body), 400), body
        ok(manager.post(path, json={"judge": "Safety", "sample_rate": 0.5}))
        for change, problem in [
            ({"sample_rate": 2}, "sample_rate"),
            ({"state": "paused"}, "state"),
            ({"state": None}, "'state' cannot be null"),
            ({"filter": "tags.x = "}, "position"),
            ({}, "nothing to change"),
        ]:
            assert problem in _error(manager.patch(path + "/safety", json=change), 400), change
        assert _error(manager.patch(path + "/nope", json={"state": "stopped"}), 404).startswith("no scorer named")
    [safety] = registry.list_registrations(auth_server.store, experiment_id)
    assert (safety.name, safety.sample_rate, safety.state, safety.filter_string) == ("safety", 0.5, "active", None)
    with pytest.raises(QueryError):
        registry.change_registration(auth_server.store, experiment_id, "safety", filter_string="x = ")


def test_the_cli_changes_monitoring_settings_through_the_server(
    auth_server: AuthServer, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    experiment_id = _experiment(auth_server, "support")
    alice, bob, _ = _team(auth_server, experiment_id)
    lake = f"{auth_server.settings.default_artifact_root}/lakes/cli"
    monkeypatch.setenv("TRACELAKE_TRACKING_URI", auth_server.url)
    monkeypatch.setenv("TRACELAKE_TOKEN", alice)
    monkeypatch.setenv("COLUMNS", "300")

    assert main(["archive", "enable", "-e", "support", "--location", lake, "--interval", "30s"]) == 0
    assert f"Archiving experiment 'support' to {lake} every" in capsys.readouterr().out
    assert main(["archive", "status", "--json"]) == 0
    [row] = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert (row["experiment"], row["location"], row["interval_seconds"], row["enabled"]) == ("support", lake, 30, True)
    assert main(["archive", "disable", "--experiment-id", experiment_id]) == 0
    assert main(["archive", "status", "-e", "support"]) == 0
    assert "disabled (never synced)" in capsys.readouterr().out

    command = ["scorers", "register", "Guidelines", "-e", "support", "--name", "polite", "--guideline", "Be polite."]
    assert main([*command, "--sample-rate", "0.25", "--filter", "status = 'OK'"]) == 0
    assert "Scorer 'polite' (Guidelines, version 1) judges 25%" in capsys.readouterr().out
    assert main(["scorers", "update", "polite", "-e", "support", "--filter", "", "--max-calls-per-hour", "50"]) == 0
    assert main(["scorers", "stop", "polite", "-e", "support"]) == 0
    capsys.readouterr()
    assert main(["scorers", "list", "-e", "support", "--json"]) == 0
    [listed] = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert (listed["name"], listed["state"], listed["filter_string"], listed["max_calls_per_hour"]) == (
        "polite",
        "stopped",
        None,
        50,
    )
    assert main(["scorers", "status", "-e", "support", "--json"]) == 0
    [status] = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert status == {
        "name": "polite",
        "version": 1,
        "state": "stopped",
        "runs": {},
        "calls_last_hour": 0,
        "cost_last_hour": 0.0,
        "last_error": None,
    }

    monkeypatch.setenv("TRACELAKE_TOKEN", bob)
    assert main(["scorers", "start", "polite", "-e", "support"]) == 1
    assert "CAN_MANAGE" in capsys.readouterr().err
    assert main(["scorers", "register", "Nope", "-e", "support"]) == 1  # refused before the body is read
    assert main(["archive", "sync", "-e", "support"]) == 1
    assert "local store" in capsys.readouterr().err  # a sync writes the tables itself: it needs the database

    monkeypatch.setenv("TRACELAKE_TOKEN", alice)
    assert main(["scorers", "register", "Nope", "-e", "support"]) == 2  # bad input: a usage error
    assert "unknown built-in judge 'Nope'" in capsys.readouterr().err
    assert main(["scorers", "delete", "polite", "-e", "support", "--yes"]) == 0
    assert registry.list_registrations(auth_server.store, experiment_id) == []


def test_python_registers_built_in_judges_through_the_server(
    auth_server: AuthServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    experiment_id = _experiment(auth_server, "support")
    alice, _, _ = _team(auth_server, experiment_id)
    monkeypatch.setenv("TRACELAKE_TRACKING_URI", auth_server.url)
    monkeypatch.setenv("TRACELAKE_TOKEN", alice)

    polite = Guidelines(name="polite", guidelines=["The response is polite."]).register(
        "support", sample_rate=0.2, filter_string="status = 'OK'", max_calls_per_hour=30
    )
    assert (polite.experiment_id, polite.kind, polite.version, polite.sample_rate) == (experiment_id, "builtin", 1, 0.2)
    assert Guidelines(name="polite", guidelines=["Be brief."]).register("support").version == 2
    assert update_scorer("support", "polite", filter_string="").filter_string is None
    assert set_scorer_state("support", "polite", "stopped").state == "stopped"
    assert [found.name for found in list_scorers("support")] == ["polite"]
    assert get_scorer("support", "polite").definition["guidelines"] == ["Be brief."]
    with pytest.raises(ConfigError, match="code scorer 'concise' cannot be registered through a tracking server"):
        concise.register("support")
    # A new experiment name is created, as with a local store; its creator manages it.
    Safety().register("brand-new")
    assert [found.name for found in list_scorers("brand-new")] == ["safety"]

    stored = registry.find_registration(auth_server.store, experiment_id, "polite")
    assert (stored.version, stored.state, stored.filter_string) == (2, "stopped", None)
    delete_scorer("support", "polite")
    assert registry.list_registrations(auth_server.store, experiment_id) == []
    assert [e["detail"]["name"] for e in _audit(auth_server, "scorer.delete")] == ["polite"]
