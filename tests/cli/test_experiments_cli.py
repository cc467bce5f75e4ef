from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from postgres_db import postgres_database
from tracelake.model import Span, SpanStatus, StatusCode, TraceBatch
from tracelake.store import SqlTraceStore, open_embedded_store
from tracelake.store.retention import DAY_MS, RETENTION_TAG

if TYPE_CHECKING:
    from tests.cli.conftest import Cli, CliResult


def _trace(number: int, start_ms: int) -> TraceBatch:
    """A finished one-span trace that started at `start_ms` (ms since the epoch)."""
    span = Span(
        trace_id=f"{number:032x}",
        span_id=f"{number:016x}",
        parent_id=None,
        name="root",
        span_type="CHAIN",
        start_time_ns=start_ms * 1_000_000,
        end_time_ns=(start_ms + 5) * 1_000_000,
        status=SpanStatus(StatusCode.OK),
    )
    return TraceBatch(trace_id=span.trace_id, spans=[span])


def _one_line_error(result: CliResult, code: int, *fragments: str) -> None:
    assert result.code == code, result.stderr
    assert result.stdout == ""
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert "Traceback" not in result.stderr
    for fragment in fragments:
        assert fragment in result.stderr, result.stderr


def test_create_list_rename_and_delete(tmp_path: Path, cli: Cli) -> None:
    created = cli(tmp_path, "experiments", "create", "support", "--retention-days", "30", "--tag", "team=search")
    assert created.code == 0, created.stderr
    assert "Created experiment 'support' (id 1)" in created.stdout
    assert f"Payloads: {tmp_path / 'artifacts' / '1'}" in created.stdout
    assert "Retention: 30 days" in created.stdout
    assert cli(tmp_path, "experiments", "create", "billing").code == 0

    table = cli(tmp_path, "experiments", "list")
    assert table.code == 0, table.stderr
    header, *rows = table.stdout.splitlines()
    assert header.split() == ["id", "name", "retention", "created", "artifact", "location"]
    assert rows[0].split()[:4] == ["1", "support", "30", "days"]
    assert rows[1].split()[:3] == ["2", "billing", "forever"]

    renamed = cli(tmp_path, "experiments", "rename", "-e", "billing", "payments")
    assert renamed.stdout.strip() == "Renamed experiment 2: 'billing' -> 'payments'."

    refused = cli(tmp_path, "experiments", "delete", "-e", "payments")  # stdin is not a terminal
    _one_line_error(refused, 2, "refusing to delete without confirmation: add --yes")
    deleted = cli(tmp_path, "experiments", "delete", "--experiment-id", "2", "--yes")
    assert deleted.code == 0, deleted.stderr
    assert "Deleted experiment 'payments' (id 2)" in deleted.stdout

    active = cli(tmp_path, "experiments", "list", "--json").json_lines()
    every = cli(tmp_path, "experiments", "list", "--json", "--include-deleted").json_lines()
    assert [e["name"] for e in active] == ["support"]
    assert active[0]["tags"] == {"team": "search", RETENTION_TAG: "30"}
    assert [(e["name"], e["lifecycle_stage"]) for e in every] == [("support", "active"), ("payments", "deleted")]
    assert "deleted" in cli(tmp_path, "experiments", "list", "--include-deleted").stdout


def test_set_retention(tmp_path: Path, cli: Cli) -> None:
    cli(tmp_path, "experiments", "create", "agent")

    on = cli(tmp_path, "experiments", "set-retention", "-e", "agent", "--days", "7")
    assert on.code == 0, on.stderr
    assert "keeps traces for 7 days" in on.stdout
    assert cli(tmp_path, "experiments", "list", "--json").json_lines()[0]["tags"] == {RETENTION_TAG: "7"}

    off = cli(tmp_path, "experiments", "set-retention", "--experiment-id", "1", "--off")
    assert off.stdout.strip() == "Experiment 'agent' (id 1) now keeps its traces forever."
    assert cli(tmp_path, "experiments", "list", "--json").json_lines()[0]["tags"] == {}


def test_enforce_retention_deletes_expired_traces(tmp_path: Path, cli: Cli) -> None:
    now_ms = time.time_ns() // 1_000_000
    with open_embedded_store(tmp_path) as store:
        experiment_id = store.create_experiment("agent", tags={RETENTION_TAG: "2"}).experiment_id
        ages_ms = {1: 30 * DAY_MS, 2: 3 * DAY_MS, 3: DAY_MS}
        for n, age in ages_ms.items():  # a payload pack each
            store.write_batches(experiment_id, [_trace(n, now_ms - age)])
    packs = tmp_path / "artifacts" / experiment_id / "packs"
    written = sorted(packs.iterdir())

    result = cli(tmp_path, "experiments", "enforce-retention", "--batch-size", "1")

    assert result.code == 0, result.stderr
    assert result.stdout.strip() == "Experiment 'agent' (id 1): deleted 2 traces."
    kept = f"{3:032x}"
    with open_embedded_store(tmp_path) as store:
        assert [info.trace_id for info in store.get_trace_infos([f"{n:032x}" for n in ages_ms])] == [kept]
        assert len(store.get_spans(kept)) > 0
    assert sorted(packs.iterdir()) == written[2:]  # the packs of the deleted traces are gone
    again = cli(tmp_path, "experiments", "enforce-retention")
    assert again.stdout.strip() == "Experiment 'agent' (id 1): deleted 0 traces."


@pytest.mark.parametrize(
    ("args", "code", "fragments"),
    [
        (("create", "x", "--artifact-location", "/etc/tracelake"), 2, ["outside the allowed artifact roots"]),
        (("create", "x", "--artifact-location", "s3://Bad_Bucket/x"), 2, ["not a valid S3 bucket name"]),
        (("create", "x", "--retention-days", "0"), 2, ["expected a positive whole number"]),
        (("create", "x", "--tag", "novalue"), 2, ["expected KEY=VALUE"]),
        (("rename", "-e", "nobody", "new"), 1, ["no experiment named 'nobody'"]),
        (("set-retention", "-e", "nobody", "--days", "3"), 1, ["no experiment named 'nobody'"]),
        (("set-retention", "-e", "x"), 2, ["one of the arguments --days --off is required"]),
        (("delete", "--experiment-id", "42", "--yes"), 1, ["no experiment with id '42'"]),
    ],
)
def test_bad_requests_get_one_line_errors(
    tmp_path: Path, cli: Cli, args: tuple[str, ...], code: int, fragments: list[str]
) -> None:
    _one_line_error(cli(tmp_path, "experiments", *args), code, *fragments)
    assert cli(tmp_path, "experiments", "list", "--json").stdout == ""


def test_a_taken_name_is_a_conflict(tmp_path: Path, cli: Cli) -> None:
    cli(tmp_path, "experiments", "create", "agent")

    _one_line_error(cli(tmp_path, "experiments", "create", "agent"), 1, "an experiment named 'agent' already exists")


def test_a_server_uri_is_not_supported_yet(tmp_path: Path, cli: Cli) -> None:
    result = cli(tmp_path, "experiments", "list", "--tracking-uri", "http://127.0.0.1:9")

    _one_line_error(result, 1, "works on a local store for now")


def test_a_sqlite_tracking_uri(tmp_path: Path, cli: Cli) -> None:
    uri = f"sqlite:///{tmp_path / 'elsewhere' / 'index.db'}"

    assert cli(tmp_path, "experiments", "create", "agent", "--tracking-uri", uri).code == 0
    listed = cli(tmp_path, "--tracking-uri", uri, "experiments", "list", "--json").json_lines()

    assert [e["name"] for e in listed] == ["agent"]
    assert cli(tmp_path, "experiments", "list", "--json").stdout == ""  # the embedded store is another one


@pytest.fixture
def postgres_url() -> Iterator[str]:
    with postgres_database("tracelake_cli") as url:
        yield url.set(drivername="postgresql").render_as_string(hide_password=False)


@pytest.mark.postgres
def test_a_postgresql_tracking_uri(tmp_path: Path, cli: Cli, postgres_url: str) -> None:
    created = cli(tmp_path, "experiments", "create", "agent", "--retention-days", "3", "--tracking-uri", postgres_url)
    assert created.code == 0, created.stderr
    renamed = cli(tmp_path, "experiments", "rename", "-e", "agent", "agent-v2", "--tracking-uri", postgres_url)
    assert renamed.code == 0, renamed.stderr

    with SqlTraceStore(postgres_url, str(tmp_path / "artifacts")) as store:
        (experiment,) = store.list_experiments()
    assert (experiment.name, experiment.tags) == ("agent-v2", {RETENTION_TAG: "3"})
