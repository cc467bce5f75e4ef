"""`tracelake archive enable | disable | sync | status`, `tracelake monitor` and `tracelake sql`.

They work on a local store (`--home`, or `--tracking-uri sqlite:///…` / `postgresql://…`): the
archive settings and sync state live in its database. See docs/archive.md.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from tracelake.cli import _sdk
from tracelake.cli._errors import EXIT_FAILURE, EXIT_OK, CliError
from tracelake.cli._render import format_duration, format_time
from tracelake.store import SqlTraceStore


def _store(args: argparse.Namespace) -> SqlTraceStore:
    return _sdk.local_store(args, "the archive commands work")


def _requires_extra() -> None:
    try:
        import deltalake  # noqa: F401
        import duckdb  # noqa: F401
    except ImportError as exc:
        raise CliError(f"{exc.name} is not installed: pip install 'tracelake[monitoring]'") from exc


def enable(args: argparse.Namespace) -> int:
    """Turn archiving on for an experiment at a location and interval."""
    from tracelake.monitoring.archive import settings as st

    store = _store(args)
    experiment = _sdk.selected_experiment(store, args)
    st.enable(store.engine, experiment.experiment_id, args.location, args.interval // 1000)
    print(
        f"Archiving experiment {experiment.name!r} to {args.location} every {format_duration(args.interval)}"
        " (run 'tracelake monitor' to keep it in sync)."
    )
    return EXIT_OK


def disable(args: argparse.Namespace) -> int:
    """Turn archiving off for an experiment (its tables stay)."""
    from tracelake.monitoring.archive import settings as st

    store = _store(args)
    experiment = _sdk.selected_experiment(store, args)
    st.disable(store.engine, experiment.experiment_id)
    print(f"Archiving of experiment {experiment.name!r} is off; its tables stay where they are.")
    return EXIT_OK


def sync(args: argparse.Namespace) -> int:
    """Sync one experiment now, with a progress bar."""
    _requires_extra()
    from tracelake.monitoring.archive.sync import DEFAULT_SETTLE_MS, run_sync

    store = _store(args)
    experiment = _sdk.selected_experiment(store, args)
    console = Console(stderr=True)
    columns = (TextColumn("archiving {task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn())
    with Progress(*columns, console=console, transient=True) as progress:
        task = progress.add_task(experiment.name, total=None)

        def report(done: int, total: int) -> None:
            progress.update(task, completed=done, total=total)

        try:
            result = run_sync(
                store,
                experiment.experiment_id,
                settle_ms=0 if args.backfill else DEFAULT_SETTLE_MS,
                batch_traces=args.batch_size,
                progress=report,
            )
        except Exception as exc:
            raise CliError(f"archive sync of {experiment.name!r} failed: {type(exc).__name__}: {exc}") from exc
    if result.skipped:
        print(f"Another worker is syncing experiment {experiment.name!r} now; nothing done.", file=sys.stderr)
        return EXIT_FAILURE
    print(
        f"Archived {result.traces} traces, {result.spans} spans and {result.assessments} assessments"
        f" of {experiment.name!r} in {result.batches} batch{'' if result.batches == 1 else 'es'}."
    )
    return EXIT_OK


def _status_rows(store: SqlTraceStore, experiment_id: str | None) -> list[dict[str, Any]]:
    from tracelake.monitoring.archive import settings as st
    from tracelake.monitoring.archive.sync import lag_ms

    rows = []
    for current in st.list_settings(store.engine):
        if experiment_id is not None and current.experiment_id != experiment_id:
            continue
        state = st.get_state(store.engine, current.experiment_id)
        watermark = None if state is None else state.watermark_ms
        rows.append(
            {
                "experiment_id": current.experiment_id,
                "experiment": store.get_experiment(current.experiment_id).name,
                "location": current.location,
                "enabled": current.enabled,
                "interval_seconds": current.interval_seconds,
                "lag_ms": lag_ms(store, current.experiment_id, watermark),
                "watermark_ms": watermark,
                "last_sync_time": None if state is None else state.last_sync_time,
                "last_success_time": None if state is None else state.last_success_time,
                "last_status": None if state is None else state.last_status,
                "last_error": None if state is None else state.last_error,
                "rows_written": {
                    "traces": 0 if state is None else state.traces_rows,
                    "spans": 0 if state is None else state.spans_rows,
                    "assessments": 0 if state is None else state.assessments_rows,
                },
                "syncing_now": state is not None and state.lease_owner is not None,
            }
        )
    return rows


def status(args: argparse.Namespace) -> int:
    """Show, per archived experiment, the lag, the last sync, its outcome and the rows written."""
    store = _store(args)
    experiment_id = (
        _sdk.selected_experiment(store, args).experiment_id if (args.experiment or args.experiment_id) else None
    )
    rows = _status_rows(store, experiment_id)
    if args.json:
        for row in rows:
            sys.stdout.write(json.dumps(row) + "\n")
        return EXIT_OK
    console = Console()
    if not rows:
        console.print("No experiment is archived ('tracelake archive enable --experiment NAME --location PATH').")
        return EXIT_OK
    table = Table(box=None, header_style="bold", pad_edge=False)
    table.add_column("experiment", no_wrap=True)
    for column in ("location", "every", "lag", "last sync", "status", "traces", "spans", "assessments"):
        table.add_column(column, overflow="fold")
    for row in rows:
        outcome = row["last_status"] or "never synced"
        if not row["enabled"]:
            outcome = f"disabled ({outcome})"
        written = row["rows_written"]
        table.add_row(
            row["experiment"],
            row["location"],
            format_duration(row["interval_seconds"] * 1000),
            format_duration(row["lag_ms"]),
            "—" if row["last_sync_time"] is None else format_time(row["last_sync_time"]),
            outcome,
            str(written["traces"]),
            str(written["spans"]),
            str(written["assessments"]),
        )
    console.print(table)
    for row in rows:
        if row["last_status"] == "error" and row["last_error"]:
            console.print(f"[red]{row['experiment']}:[/red] {row['last_error']}", markup=True, highlight=False)
    return EXIT_OK


def monitor(args: argparse.Namespace) -> int:
    """Run the monitoring worker (archive syncs, scorers) until interrupted."""
    _requires_extra()
    from tracelake.monitoring.worker import Worker, default_jobs

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    store = _store(args)
    worker = Worker(default_jobs(store), tick_seconds=args.tick)
    if args.once:
        worker.run_once()
        return EXIT_OK
    print(f"Monitoring (jobs: {', '.join(job.name for job in worker.jobs)}); Ctrl-C to stop.", file=sys.stderr)
    worker.run_forever()
    return EXIT_OK


def sql(args: argparse.Namespace) -> int:
    """Run a DuckDB query over an experiment's archive and print the result."""
    _requires_extra()
    import duckdb

    from tracelake.monitoring.archive import settings as st
    from tracelake.monitoring.archive.sql import query

    store = _store(args)
    experiment = _sdk.selected_experiment(store, args)
    current = st.get_settings(store.engine, experiment.experiment_id)
    if current is None:
        raise CliError(f"experiment {experiment.name!r} has no archive: run 'tracelake archive enable' first")
    try:
        result = query(current.location, experiment.experiment_id, args.query)
    except duckdb.Error as exc:
        raise CliError(f"query failed: {exc}") from exc
    records = result.to_pylist()
    if args.json:
        for record in records:
            sys.stdout.write(json.dumps(record, default=str) + "\n")
        return EXIT_OK
    table = Table(header_style="bold")
    for name in result.column_names:
        table.add_column(name, overflow="fold")
    for record in records:
        table.add_row(*("" if value is None else str(value) for value in record.values()))
    Console().print(table)
    return EXIT_OK
