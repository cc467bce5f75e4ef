from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

from tracelake.testing.llm_stub import count_tokens

if TYPE_CHECKING:
    from tests.cli.conftest import Cli, Quickstart


def test_quickstart_prints_a_summary_of_what_it_stored(quickstart: Quickstart) -> None:
    out = quickstart.result.stdout

    assert "LLM stub (offline, deterministic) serving at http://127.0.0.1:" in out
    assert "Ran 6 requests through the example support agent: 5 answered, 1 failed (on purpose)." in out
    assert "Traces stored in experiment 'quickstart'" in out
    for info in quickstart.traces:
        assert info["trace_id"] in out
    assert f"Data: {quickstart.home.resolve()}" in out
    error_id = quickstart.by_state("ERROR")[0]["trace_id"]
    assert f"traces get {error_id}" in out
    assert "traces search --experiment quickstart --filter \"status = 'ERROR'\"" in out
    assert quickstart.result.stderr == ""


def test_quickstart_traces_carry_sessions_users_tags_and_usage(quickstart: Quickstart) -> None:
    # In request order: the client request ids end with the request's number (two quick requests
    # can start in the same millisecond, so request_time does not order them).
    traces = sorted(quickstart.traces, key=lambda info: int(info["client_request_id"].rsplit("-", 1)[1]))

    assert len(traces) == 6
    assert [info["state"] for info in traces] == ["OK", "OK", "OK", "ERROR", "OK", "OK"]
    assert {info["name"] for info in traces} == {"support_agent"}
    assert [info["metadata"]["user_id"] for info in traces[:3]] == ["u-alice", "u-alice", "u-bob"]
    assert traces[0]["metadata"]["session_id"] == traces[1]["metadata"]["session_id"] == "s-alice-1"
    assert all(info["metadata"]["environment"] == "development" for info in traces)
    assert all(info["client_request_id"].startswith("qs-") for info in traces)
    assert {info["tags"]["channel"] for info in traces} == {"chat", "email"}
    assert len({info["tags"]["quickstart_run"] for info in traces}) == 1
    assert "A-1001" in traces[0]["request_preview"]
    assert "DHL" in traces[0]["response_preview"]
    for info in quickstart.by_state("OK"):
        assert info["token_usage"]["input_tokens"] > 0
        assert info["token_usage"]["output_tokens"] > 0
        assert info["cost"]["total_cost"] > 0


def test_quickstart_llm_spans_record_the_stubs_exact_token_counts(quickstart: Quickstart, cli: Cli) -> None:
    first = min(quickstart.traces, key=lambda info: int(info["client_request_id"].rsplit("-", 1)[1]))
    trace = json.loads(cli(quickstart.home, "traces", "get", first["trace_id"], "--json").stdout)

    spans = {span["span_type"]: span for span in trace["data"]["spans"]}
    assert set(spans) == {"AGENT", "RETRIEVER", "TOOL", "LLM"}
    llm = spans["LLM"]
    assert llm["model_name"] == "gpt-4o-mini"
    prompt = sum(count_tokens(message["content"]) for message in llm["inputs"]["messages"])
    answer = "Your order A-1001 shipped with DHL and should arrive within 2 days."
    assert llm["token_usage"]["input_tokens"] == prompt
    assert llm["token_usage"]["output_tokens"] == count_tokens(answer)
    assert spans["RETRIEVER"]["outputs"][0]["id"] == "kb-orders"
    assert spans["TOOL"]["outputs"]["carrier"] == "DHL"
    assert trace["info"]["token_usage"]["total_tokens"] == llm["token_usage"]["total_tokens"]


def test_quickstart_runs_again_into_the_same_experiment(tmp_path: Path, cli: Cli) -> None:
    cli.quickstart(tmp_path, "--traces", "2")
    second = cli.quickstart(tmp_path, "--traces", "3", "--experiment", "quickstart")

    # The summary shows this run only; the store keeps both.
    assert "Ran 3 requests" in second.result.stdout
    assert len(second.traces) == 5


def test_quickstart_into_a_named_experiment(tmp_path: Path, cli: Cli) -> None:
    result = cli(tmp_path, "quickstart", "--experiment", "demo agent", "--traces", "1")

    assert result.code == 0, result.stderr
    assert "Ran 1 request through the example support agent: 1 answered, 0 failed." in result.stdout
    assert "--experiment 'demo agent'" in result.stdout
    assert len(cli(tmp_path, "traces", "search", "--experiment", "demo agent", "--json").json_lines()) == 1
