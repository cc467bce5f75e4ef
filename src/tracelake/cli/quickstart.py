"""`tracelake quickstart`: trace an example agent end to end, offline, in a few seconds.

It starts the built-in LLM stub, sends a handful of customer requests through the example support
agent (one fails on purpose), flushes, then reads the traces back through `search_traces` — the
same path `tracelake traces search` takes — and says where they are and what to try next.
"""

from __future__ import annotations

import argparse
import os
import shlex
import uuid

from rich.console import Console
from rich.text import Text

import tracelake
from tracelake import _config
from tracelake.cli import _sdk
from tracelake.cli._errors import EXIT_OK, CliError
from tracelake.cli._render import traces_table
from tracelake.model import Trace
from tracelake.testing.llm_stub import LLMStub

_RUN_TAG = "quickstart_run"
_FLUSH_TIMEOUT_S = 10.0


def run(args: argparse.Namespace) -> int:
    """Run the quickstart and print what was stored."""
    console = Console(highlight=False)
    # A demo must show every trace whatever the shell says: sampling and the on/off switch are
    # pinned; the environment label is kept if the user set one.
    environment = _config.ENVIRONMENT.resolve(None, os.environ) or "development"
    _sdk.configure(args, enabled=True, sampling_ratio=1.0, environment=environment)
    experiment = tracelake.set_experiment(args.experiment)
    # Imported after configure(): its decorators belong to the configured SDK.
    from tracelake.cli._quickstart_agent import CANNED_REPLIES, SCENARIOS, OrderNotFoundError, SupportAgent

    run_id = uuid.uuid4().hex[:8]
    scripted = 0
    unexpected: list[str] = []
    with LLMStub(rules=CANNED_REPLIES) as stub:
        console.print(f"LLM stub (offline, deterministic) serving at [cyan]{stub.base_url}[/]")
        agent = SupportAgent(stub.base_url, tags={_RUN_TAG: run_id})
        try:
            for number in range(args.traces):
                try:
                    agent.handle(SCENARIOS[number % len(SCENARIOS)], client_request_id=f"qs-{run_id}-{number + 1}")
                except OrderNotFoundError:
                    scripted += 1  # the failure the demo shows on purpose; its trace records it
                except Exception as exc:  # recorded in its trace too, but the demo is broken
                    unexpected.append(f"request {number + 1}: {type(exc).__name__}: {exc}")
        finally:
            agent.close()
    if not tracelake.flush(timeout=_FLUSH_TIMEOUT_S):
        raise CliError(f"the traces were not all written within {_FLUSH_TIMEOUT_S:.0f} s")

    traces = _stored_traces(experiment.experiment_id, run_id, args.traces)
    answered = args.traces - scripted - len(unexpected)
    console.print(
        f"Ran {args.traces} request{'s' if args.traces != 1 else ''} through the example support agent: "
        f"{answered} answered, {scripted} failed{' (on purpose)' if scripted else ''}."
    )
    title = Text(f"Traces stored in experiment '{experiment.name}' (id {experiment.experiment_id})")
    console.print(traces_table([trace.info for trace in traces], console.width, title=title))
    if unexpected:
        raise CliError(f"the example agent failed unexpectedly ({'; '.join(unexpected)})")
    if len(traces) != args.traces:
        raise CliError(f"expected {args.traces} traces in the store, found {len(traces)}")
    _print_next_steps(console, args, experiment.name, traces)
    return EXIT_OK


def _stored_traces(experiment_id: str, run_id: str, expected: int) -> list[Trace]:
    """Return this run's traces, oldest first; earlier quickstarts in the same experiment are left out."""
    found = tracelake.search_traces(
        experiment_ids=[experiment_id],
        filter_string=f"tags.{_RUN_TAG} = '{run_id}'",
        max_results=max(expected, 1),
        include_spans=False,
    )
    return sorted(found, key=lambda trace: trace.info.request_time)


def _print_next_steps(console: Console, args: argparse.Namespace, experiment: str, traces: list[Trace]) -> None:
    prefix = "tracelake"
    if args.home is not None:
        prefix += f" --home {shlex.quote(args.home)}"
    if args.tracking_uri is not None:
        prefix += f" --tracking-uri {shlex.quote(args.tracking_uri)}"
    failed = next((t for t in traces if t.info.state.value == "ERROR"), traces[0] if traces else None)
    lines = [
        "",
        f"Data: {_sdk.data_location(args)}",
        "Try next:",
        f"  {prefix} traces search --experiment {shlex.quote(experiment)} --filter \"status = 'ERROR'\"",
        f"  {prefix} traces search --experiment {shlex.quote(experiment)} --filter \"session = 's-alice-1'\" --json",
    ]
    if failed is not None:
        lines.append(f"  {prefix} traces get {failed.info.trace_id}")
    # Plain text, never wrapped: paths may hold markup characters and commands must stay copyable.
    for line in lines:
        console.print(line, markup=False, soft_wrap=True)
