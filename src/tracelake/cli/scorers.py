"""`tracelake scorers list | status | start | stop | delete | backfill`.

Registering happens in Python (`Guidelines(...).register(experiment=...)`, `my_scorer.register(...)`);
these commands look after what is registered, on a local store (`--home` or `--tracking-uri`).
"""

from __future__ import annotations

import argparse
import json
import sys
import time

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from tracelake.cli import _sdk
from tracelake.cli._errors import EXIT_FAILURE, EXIT_OK, CliError
from tracelake.cli.traces import _confirm
from tracelake.monitoring.scorers import registry
from tracelake.monitoring.scorers.backfill import BackfillResult, backfill, count_backfill
from tracelake.monitoring.scorers.job import ScorerJob, ScorerSettings
from tracelake.monitoring.scorers.runs import scorer_status
from tracelake.store import SqlTraceStore


def _store(args: argparse.Namespace) -> SqlTraceStore:
    return registry.sql_store(_sdk.local_store(args, "'tracelake scorers' works"))


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


def list_command(args: argparse.Namespace) -> int:
    """List registered scorers (of one experiment, or all)."""
    store = _store(args)
    scorers = registry.list_scorers(args.experiment, store=store)
    if args.json:
        for item in scorers:
            sys.stdout.write(json.dumps(item.to_dict(), ensure_ascii=False) + "\n")
        return EXIT_OK
    console = Console()
    if not scorers:
        console.print("No scorers registered.")
        return EXIT_OK
    names = {e.experiment_id: e.name for e in store.list_experiments()}
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
    store = _store(args)
    scorers = registry.list_scorers(args.experiment, store=store)
    if args.name:
        scorers = [item for item in scorers if item.name == args.name]
        if not scorers:
            raise CliError(f"no scorer named {args.name!r} on experiment {args.experiment!r}")
    now = _now_ms()
    rows = []
    for item in scorers:
        found = scorer_status(store.engine, item.scorer_id, item.version, now)
        rows.append((item, found))
    if args.json:
        for item, found in rows:
            payload = {
                "name": item.name,
                "version": item.version,
                "state": item.state,
                "runs": found.counts,
                "calls_last_hour": found.calls_last_hour,
                "cost_last_hour": found.cost_last_hour,
                "last_error": found.last_error,
            }
            sys.stdout.write(json.dumps(payload, ensure_ascii=False) + "\n")
        return EXIT_OK
    console = Console()
    table = Table(box=None, header_style="bold", pad_edge=False)
    for column in ("name", "version", "state", "done", "errors", "failed", "skipped", "last hour", "last error"):
        table.add_column(column, overflow="fold")
    for item, found in rows:
        counts = found.counts
        table.add_row(
            item.name,
            str(item.version),
            item.state,
            str(counts.get("done", 0)),
            str(counts.get("error", 0)),
            str(counts.get("failed", 0)),
            str(counts.get("skipped", 0)),
            f"{found.calls_last_hour} calls, ${found.cost_last_hour:.4f}",
            found.last_error or "",
        )
    console.print(table)
    return EXIT_OK


def start(args: argparse.Namespace) -> int:
    """Resume a stopped scorer."""
    registry.set_scorer_state(args.experiment, args.name, registry.ACTIVE, store=_store(args))
    print(f"Scorer {args.name!r} of {args.experiment!r} is active.")
    return EXIT_OK


def stop(args: argparse.Namespace) -> int:
    """Pause a scorer: it judges nothing until started again."""
    registry.set_scorer_state(args.experiment, args.name, registry.STOPPED, store=_store(args))
    print(f"Scorer {args.name!r} of {args.experiment!r} is stopped.")
    return EXIT_OK


def delete(args: argparse.Namespace) -> int:
    """Delete a registration (the assessments it wrote stay)."""
    store = _store(args)
    registry.get_scorer(args.experiment, args.name, store=store)
    if not args.yes:
        _confirm(f"Delete scorer {args.name!r} of experiment {args.experiment!r}?")
    registry.delete_scorer(args.experiment, args.name, store=store)
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
