"""`tracelake scorers list | status | register | update | start | stop | delete | backfill`.

Code scorers are registered in Python (`my_scorer.register(experiment=...)`); built-in LLM judges
also with `tracelake scorers register JUDGE`. These commands look after what is registered, on a
local store (`--home` or `--tracking-uri sqlite:///…` / `postgresql://…`) or through a server
(`--tracking-uri http(s)://…` with `TRACELAKE_TOKEN`, or `TRACELAKE_CLIENT_ID` +
`TRACELAKE_CLIENT_SECRET`), which checks the caller's permissions. `backfill` runs the scorer
itself, so it needs the database.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any, Protocol

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from tracelake.cli import _sdk
from tracelake.cli._errors import EXIT_FAILURE, EXIT_OK, EXIT_USAGE, CliError
from tracelake.cli.auth import server_client
from tracelake.cli.traces import _confirm
from tracelake.client import Client, ScorerInfo
from tracelake.monitoring.scorers import registry
from tracelake.monitoring.scorers.backfill import BackfillResult, backfill, count_backfill
from tracelake.monitoring.scorers.job import ScorerJob, ScorerSettings
from tracelake.monitoring.scorers.registry import KEEP, ScorerRegistration
from tracelake.monitoring.scorers.runs import scorer_status
from tracelake.store import SqlTraceStore


def _store(args: argparse.Namespace) -> SqlTraceStore:
    return registry.sql_store(_sdk.local_store(args, "'tracelake scorers backfill' runs the scorer here: it works"))


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


class _Scorers(Protocol):
    """Where registrations live: a local store, or a server's REST API."""

    def experiment_id(self, name: str) -> str: ...
    def experiment_names(self) -> dict[str, str]: ...
    def list(self, experiment_id: str | None) -> list[ScorerInfo]: ...
    def register(
        self, experiment_id: str, judge: str, name: str | None, parameters: dict[str, Any], **settings: Any
    ) -> ScorerInfo: ...
    def update(self, experiment_id: str, name: str, changes: Mapping[str, Any]) -> ScorerInfo: ...
    def delete(self, experiment_id: str, name: str) -> None: ...


def _info(store: SqlTraceStore, registration: ScorerRegistration, now_ms: int) -> ScorerInfo:
    status = scorer_status(store.engine, registration.scorer_id, registration.version, now_ms)
    return ScorerInfo(
        scorer_id=registration.scorer_id,
        experiment_id=registration.experiment_id,
        name=registration.name,
        version=registration.version,
        kind=registration.kind,
        definition=registration.definition,
        state=registration.state,
        sample_rate=registration.sample_rate,
        filter_string=registration.filter_string,
        max_calls_per_hour=registration.max_calls_per_hour,
        max_cost_per_hour=registration.max_cost_per_hour,
        version_time_ms=registration.version_time,
        created_time_ms=registration.created_time,
        updated_time_ms=registration.updated_time,
        runs=status.counts,
        calls_last_hour=status.calls_last_hour,
        cost_last_hour=status.cost_last_hour,
        last_error=status.last_error,
    )


class _Local:
    def __init__(self, store: SqlTraceStore) -> None:
        self.store = store

    def experiment_id(self, name: str) -> str:
        found = self.store.get_experiment_by_name(name)
        if found is None:
            raise CliError(f"no experiment named {name!r} (check the name, --home and --tracking-uri)")
        return found.experiment_id

    def experiment_names(self) -> dict[str, str]:
        return {e.experiment_id: e.name for e in self.store.list_experiments(include_deleted=True)}

    def list(self, experiment_id: str | None) -> list[ScorerInfo]:
        now = _now_ms()
        return [_info(self.store, found, now) for found in registry.list_registrations(self.store, experiment_id)]

    def register(
        self, experiment_id: str, judge: str, name: str | None, parameters: dict[str, Any], **settings: Any
    ) -> ScorerInfo:
        scorer = registry.builtin_judge(judge, name, parameters)
        saved, _ = registry.save_registration(self.store, experiment_id, scorer, **settings)
        return _info(self.store, saved, _now_ms())

    def update(self, experiment_id: str, name: str, changes: Mapping[str, Any]) -> ScorerInfo:
        keep: dict[str, Any] = {key: changes.get(key, KEEP) for key in _CHANGES}
        if changes.get("remove_budget"):
            for key in ("max_calls_per_hour", "max_cost_per_hour"):
                keep[key] = changes.get(key)
        changed = registry.change_registration(self.store, experiment_id, name, **keep)
        return _info(self.store, changed, _now_ms())

    def delete(self, experiment_id: str, name: str) -> None:
        registry.remove_registration(self.store, experiment_id, name)


class _Remote:
    def __init__(self, client: Client) -> None:
        self.client = client

    def experiment_id(self, name: str) -> str:
        found = self.client.get_experiment_by_name(name)
        if found is None:
            raise CliError(f"no experiment named {name!r} on {self.client.base_url} (or you cannot read it)")
        return found.experiment_id

    def experiment_names(self) -> dict[str, str]:
        return {e.experiment_id: e.name for e in self.client.list_experiments(include_deleted=True)}

    def list(self, experiment_id: str | None) -> list[ScorerInfo]:
        return self.client.list_scorers(experiment_id)

    def register(
        self, experiment_id: str, judge: str, name: str | None, parameters: dict[str, Any], **settings: Any
    ) -> ScorerInfo:
        return self.client.register_judge(experiment_id, judge, name, parameters, **settings)

    def update(self, experiment_id: str, name: str, changes: Mapping[str, Any]) -> ScorerInfo:
        return self.client.update_scorer(experiment_id, name, **changes)

    def delete(self, experiment_id: str, name: str) -> None:
        self.client.delete_scorer(experiment_id, name)


_CHANGES = ("state", "sample_rate", "filter_string", "max_calls_per_hour", "max_cost_per_hour")


@contextmanager
def _scorers(args: argparse.Namespace) -> Iterator[_Scorers]:
    client = server_client(args)
    if client is None:
        yield _Local(registry.sql_store(_sdk.local_store(args, "'tracelake scorers' works")))
        return
    with client:
        yield _Remote(client)


def _registration_json(item: ScorerInfo) -> dict[str, Any]:
    """One line of `scorers list --json`: the registration's fields (as `ScorerRegistration.to_dict()`)."""
    return {
        "scorer_id": item.scorer_id,
        "experiment_id": item.experiment_id,
        "name": item.name,
        "version": item.version,
        "kind": item.kind,
        "definition": item.definition,
        "sample_rate": item.sample_rate,
        "filter_string": item.filter_string,
        "state": item.state,
        "max_calls_per_hour": item.max_calls_per_hour,
        "max_cost_per_hour": item.max_cost_per_hour,
        "version_time": item.version_time_ms,
        "created_time": item.created_time_ms,
        "updated_time": item.updated_time_ms,
    }


def list_command(args: argparse.Namespace) -> int:
    """List registered scorers (of one experiment, or all)."""
    with _scorers(args) as where:
        experiment_id = None if args.experiment is None else where.experiment_id(args.experiment)
        scorers = where.list(experiment_id)
        names = where.experiment_names() if scorers and not args.json else {}
    if args.json:
        for item in scorers:
            sys.stdout.write(json.dumps(_registration_json(item), ensure_ascii=False) + "\n")
        return EXIT_OK
    console = Console()
    if not scorers:
        console.print("No scorers registered.")
        return EXIT_OK
    table = Table(box=None, header_style="bold", pad_edge=False)
    for column in ("experiment", "name", "version", "kind", "state", "sample", "filter", "budget"):
        table.add_column(column, overflow="fold")
    for item in scorers:
        budget = [f"{item.max_calls_per_hour} calls/h"] if item.max_calls_per_hour else []
        budget += [f"${item.max_cost_per_hour:g}/h"] if item.max_cost_per_hour else []
        table.add_row(
            names.get(item.experiment_id, item.experiment_id),
            item.name,
            str(item.version),
            item.kind,
            item.state,
            f"{item.sample_rate:.0%}",
            item.filter_string or "",
            ", ".join(budget) or "none",
        )
    console.print(table)
    return EXIT_OK


def status(args: argparse.Namespace) -> int:
    """Show what each scorer of an experiment has done: runs by status, the hour's usage, the last error."""
    with _scorers(args) as where:
        scorers = where.list(where.experiment_id(args.experiment))
    if args.name:
        scorers = [item for item in scorers if item.name == args.name]
        if not scorers:
            raise CliError(f"no scorer named {args.name!r} on experiment {args.experiment!r}")
    if args.json:
        for item in scorers:
            payload = {
                "name": item.name,
                "version": item.version,
                "state": item.state,
                "runs": item.runs,
                "calls_last_hour": item.calls_last_hour,
                "cost_last_hour": item.cost_last_hour,
                "last_error": item.last_error,
            }
            sys.stdout.write(json.dumps(payload, ensure_ascii=False) + "\n")
        return EXIT_OK
    console = Console()
    table = Table(box=None, header_style="bold", pad_edge=False)
    for column in ("name", "version", "state", "done", "errors", "failed", "skipped", "last hour", "last error"):
        table.add_column(column, overflow="fold")
    for item in scorers:
        counts = item.runs
        table.add_row(
            item.name,
            str(item.version),
            item.state,
            str(counts.get("done", 0)),
            str(counts.get("error", 0)),
            str(counts.get("failed", 0)),
            str(counts.get("skipped", 0)),
            f"{item.calls_last_hour} calls, ${item.cost_last_hour:.4f}",
            item.last_error or "",
        )
    console.print(table)
    return EXIT_OK


def _parameters(args: argparse.Namespace) -> dict[str, Any]:
    parameters: dict[str, Any] = {}
    for item in args.param or []:
        key, sep, text = item.partition("=")
        if not sep or not key.strip():
            raise CliError(f"--param: expected KEY=VALUE, got {item!r}", EXIT_USAGE)
        try:
            parameters[key.strip()] = json.loads(text)
        except ValueError:
            parameters[key.strip()] = text  # a plain string needs no JSON quotes
    if args.guideline:
        parameters["guidelines"] = list(args.guideline)
    if args.model:
        parameters["model"] = args.model
    return parameters


def register(args: argparse.Namespace) -> int:
    """Register a built-in LLM judge on an experiment (or update its registration of that name)."""
    settings: dict[str, Any] = {"sample_rate": args.sample_rate, "filter_string": args.filter or None}
    settings |= {"max_calls_per_hour": args.max_calls_per_hour, "max_cost_per_hour": args.max_cost_per_hour}
    with _scorers(args) as where:
        experiment_id = where.experiment_id(args.experiment)
        saved = where.register(experiment_id, args.judge, args.name, _parameters(args), **settings)
    print(
        f"Scorer {saved.name!r} ({args.judge}, version {saved.version}) judges {saved.sample_rate:.0%} of the"
        f" matching traces of {args.experiment!r} (run 'tracelake monitor' to score them)."
    )
    return EXIT_OK


def update(args: argparse.Namespace) -> int:
    """Change a scorer's sample rate, filter or budget (its version stays)."""
    changes: dict[str, Any] = {}
    for key, value in (
        ("sample_rate", args.sample_rate),
        ("filter_string", args.filter),
        ("max_calls_per_hour", args.max_calls_per_hour),
        ("max_cost_per_hour", args.max_cost_per_hour),
    ):
        if value is not None:
            changes[key] = value
    if args.no_budget:
        changes["remove_budget"] = True
    if not changes:
        raise CliError(
            "nothing to change: give --sample-rate, --filter, --max-calls-per-hour, --max-cost-per-hour or --no-budget",
            EXIT_USAGE,
        )
    with _scorers(args) as where:
        where.update(where.experiment_id(args.experiment), args.name, changes)
    print(f"Updated scorer {args.name!r} of {args.experiment!r}.")
    return EXIT_OK


def _set_state(args: argparse.Namespace, state: str) -> None:
    with _scorers(args) as where:
        where.update(where.experiment_id(args.experiment), args.name, {"state": state})


def start(args: argparse.Namespace) -> int:
    """Resume a stopped scorer."""
    _set_state(args, registry.ACTIVE)
    print(f"Scorer {args.name!r} of {args.experiment!r} is active.")
    return EXIT_OK


def stop(args: argparse.Namespace) -> int:
    """Pause a scorer: it judges nothing until started again."""
    _set_state(args, registry.STOPPED)
    print(f"Scorer {args.name!r} of {args.experiment!r} is stopped.")
    return EXIT_OK


def delete(args: argparse.Namespace) -> int:
    """Delete a registration (the assessments it wrote stay)."""
    with _scorers(args) as where:
        experiment_id = where.experiment_id(args.experiment)
        if args.name not in {item.name for item in where.list(experiment_id)}:
            raise CliError(f"no scorer named {args.name!r} on experiment {args.experiment!r}")
        if not args.yes:
            _confirm(f"Delete scorer {args.name!r} of experiment {args.experiment!r}?")
        where.delete(experiment_id, args.name)
    print(f"Deleted scorer {args.name!r} of {args.experiment!r}; its assessments stay.")
    return EXIT_OK


def backfill_command(args: argparse.Namespace) -> int:
    """Judge the experiment's past traces (since --since) with one scorer, showing progress."""
    store = _store(args)
    registration = registry.get_scorer(args.experiment, args.name, store=store)
    settings = ScorerSettings.from_env()
    if args.concurrency:
        settings = ScorerSettings(concurrency=args.concurrency, judge_experiment=settings.judge_experiment)
    job = ScorerJob(store, settings)
    since_ms = _now_ms() - args.since
    console = Console(stderr=True)
    try:
        total = count_backfill(job, registration, since_ms)
        columns = (TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
        with Progress(*columns, console=console, transient=False) as progress:
            task = progress.add_task(f"scoring with {registration.name}", total=total)

            def report(done: BackfillResult) -> None:
                progress.update(task, completed=min(done.seen, total))

            result = backfill(job, registration, since_ms, report)
    finally:
        job.close()
    print(
        f"Backfill of {registration.name!r}: {result.done} judged, {result.skipped} skipped, "
        f"{result.errors} failed (retried by 'tracelake monitor')."
    )
    if result.budget_exhausted:
        print("Stopped early: the scorer's hourly budget is spent; run again later to continue.")
        return EXIT_FAILURE
    return EXIT_OK
