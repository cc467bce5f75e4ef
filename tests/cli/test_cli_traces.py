from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from tests.cli.conftest import Cli, CliResult, Quickstart


def _assert_one_line_error(result: CliResult, code: int, *fragments: str) -> None:
    assert result.code == code
    assert result.stdout == ""
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert "Traceback" not in result.stderr
    for fragment in fragments:
        assert fragment in result.stderr


# search -----------------------------------------------------------------------------------------
def test_search_table_lists_every_trace(quickstart: Quickstart, cli: Cli) -> None:
    result = cli(quickstart.home, "traces", "search", "--experiment", "quickstart")

    assert result.code == 0, result.stderr
    header = result.stdout.splitlines()[0]
    for column in ("trace id", "time", "name", "state", "duration", "request", "response", "tokens", "cost"):
        assert column in header
    for info in quickstart.traces:
        assert info["trace_id"] in result.stdout
    assert "s-alice-1" in result.stdout
    assert "u-carol" in result.stdout


def test_search_with_filter(quickstart: Quickstart, cli: Cli) -> None:
    errors = cli(quickstart.home, "traces", "search", "-e", "quickstart", "--filter", "status = 'ERROR'", "--json")
    alice = cli(quickstart.home, "traces", "search", "--filter", "metadata.user_id = 'u-alice'", "--json")

    assert [info["trace_id"] for info in errors.json_lines()] == [t["trace_id"] for t in quickstart.by_state("ERROR")]
    assert len(alice.json_lines()) == 2


def test_search_by_experiment_id_and_order(quickstart: Quickstart, cli: Cli) -> None:
    experiment_id = quickstart.traces[0]["experiment_id"]

    args = ["--experiment-id", experiment_id, "--order-by", "timestamp_ms ASC", "--json"]
    result = cli(quickstart.home, "traces", "search", *args)

    times = [info["request_time"] for info in result.json_lines()]
    assert len(times) == 6
    assert times == sorted(times)


def test_search_pages_with_tokens(quickstart: Quickstart, cli: Cli) -> None:
    first = cli(quickstart.home, "traces", "search", "-e", "quickstart", "--max-results", "4", "--json")
    token = first.stderr.split("--page-token", 1)[1].strip()
    second = cli(quickstart.home, "traces", "search", "-e", "quickstart", "--max-results", "4", "--page-token", token)

    assert len(first.json_lines()) == 4
    seen = {info["trace_id"] for info in first.json_lines()}
    rest = [info["trace_id"] for info in quickstart.traces if info["trace_id"] not in seen]
    assert len(rest) == 2
    assert all(trace_id in second.stdout for trace_id in rest)
    assert "--page-token" not in second.stdout


def test_search_with_no_match_says_so(quickstart: Quickstart, cli: Cli) -> None:
    table = cli(quickstart.home, "traces", "search", "--filter", "user = 'nobody'")
    lines = cli(quickstart.home, "traces", "search", "--filter", "user = 'nobody'", "--json")

    assert table.stdout.strip() == "No traces found."
    assert (lines.code, lines.stdout) == (0, "")


def test_bad_filter_exits_2_with_the_position(quickstart: Quickstart, cli: Cli) -> None:
    result = cli(quickstart.home, "traces", "search", "--filter", "status = 'ERROR' AND")

    _assert_one_line_error(result, 2, "invalid query", "position")


def test_unknown_experiment_is_an_error(tmp_path: Path, cli: Cli) -> None:
    result = cli(tmp_path, "traces", "search", "--experiment", "nope")

    _assert_one_line_error(result, 1, "no experiment named 'nope'")


# get --------------------------------------------------------------------------------------------
def test_get_shows_summary_and_span_tree(quickstart: Quickstart, cli: Cli) -> None:
    failed = quickstart.by_state("ERROR")[0]

    result = cli(quickstart.home, "traces", "get", failed["trace_id"])

    assert result.code == 0, result.stderr
    out = result.stdout
    assert failed["trace_id"] in out
    for fragment in ("support_agent AGENT", "search_knowledge_base RETRIEVER", "lookup_order TOOL", "ERROR"):
        assert fragment in out
    assert "OrderNotFoundError: order A-9999 does not exist" in out
    assert "u-carol" in out
    # The failing request never reached the LLM.
    assert "LLM" not in out


def test_get_json_is_the_whole_trace(quickstart: Quickstart, cli: Cli) -> None:
    ok = quickstart.by_state("OK")[0]

    trace = json.loads(cli(quickstart.home, "traces", "get", ok["trace_id"], "--json").stdout)

    assert trace["info"]["trace_id"] == ok["trace_id"]
    assert trace["info"]["span_count"] == len(trace["data"]["spans"])
    assert {span["name"] for span in trace["data"]["spans"]} >= {"support_agent", "chat_completion"}


def test_get_unknown_trace(quickstart: Quickstart, cli: Cli) -> None:
    result = cli(quickstart.home, "traces", "get", "0" * 32)

    _assert_one_line_error(result, 1, "0" * 32)


# delete -----------------------------------------------------------------------------------------
def test_delete_by_id_then_by_age(tmp_path: Path, cli: Cli) -> None:
    run = cli.quickstart(tmp_path, "--traces", "4")
    doomed = run.traces[0]["trace_id"]

    by_id = cli(tmp_path, "traces", "delete", "-e", "quickstart", "--trace-id", doomed, "--yes")
    by_age = cli(tmp_path, "traces", "delete", "-e", "quickstart", "--older-than", "0s", "--max-traces", "2", "-y")
    left = cli(tmp_path, "traces", "search", "-e", "quickstart", "--json").json_lines()

    assert (by_id.code, by_id.stdout.strip()) == (0, "Deleted 1 trace.")
    assert (by_age.code, by_age.stdout.strip()) == (0, "Deleted 2 traces.")
    assert len(left) == 1
    assert cli(tmp_path, "traces", "get", doomed).code == 1


def test_delete_by_timestamp(tmp_path: Path, cli: Cli) -> None:
    run = cli.quickstart(tmp_path, "--traces", "2")
    cutoff = max(info["request_time"] for info in run.traces) + 1

    result = cli(tmp_path, "traces", "delete", "-e", "quickstart", "--max-timestamp-ms", str(cutoff), "--yes")

    assert result.stdout.strip() == "Deleted 2 traces."


def test_delete_needs_yes_when_not_interactive(tmp_path: Path, cli: Cli) -> None:
    cli.quickstart(tmp_path, "--traces", "1")

    result = cli(tmp_path, "traces", "delete", "-e", "quickstart", "--older-than", "0s", stdin="y\n")

    _assert_one_line_error(result, 2, "--yes")
    assert len(cli(tmp_path, "traces", "search", "-e", "quickstart", "--json").json_lines()) == 1


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["traces", "delete", "-e", "x"], "one of the arguments --trace-id --older-than --max-timestamp-ms"),
        (["traces", "delete", "-e", "x", "--older-than", "3x"], "invalid duration '3x'"),
        (["traces", "search", "--max-results", "0"], "expected a positive whole number"),
        (["traces", "frobnicate"], "invalid choice: 'frobnicate'"),
    ],
)
def test_usage_errors_are_one_line(tmp_path: Path, cli: Cli, args: list[str], message: str) -> None:
    _assert_one_line_error(cli(tmp_path, *args), 2, message)


def test_delete_from_unknown_experiment(tmp_path: Path, cli: Cli) -> None:
    result = cli(tmp_path, "traces", "delete", "-e", "nope", "--older-than", "1d", "--yes")

    _assert_one_line_error(result, 1, "no experiment named 'nope'")


def test_invalid_tracking_uri_is_a_usage_error(tmp_path: Path, cli: Cli) -> None:
    result = cli(tmp_path, "--tracking-uri", "ftp://example.com/x", "traces", "search")

    _assert_one_line_error(result, 2, "invalid configuration", "ftp://example.com/x")
