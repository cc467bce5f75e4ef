"""`tracelake archive enable | disable | sync | status`, `tracelake monitor` and `tracelake sql`.

They work on a local store (`--home`, or `--tracking-uri sqlite:///…` / `postgresql://…`): the
archive settings and sync state live in its database. `enable`, `disable` and `status` also work
through a server (`--tracking-uri http(s)://…`, credentials in `TRACELAKE_TOKEN` or
`TRACELAKE_CLIENT_ID` + `TRACELAKE_CLIENT_SECRET`), which checks the caller's permissions; `sync`,
`monitor` and `sql` write or read the tables themselves, so they need the database. See docs/archive.md.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from tracelake.cli import _sdk
from tracelake.cli._errors import EXIT_FAILURE, EXIT_OK, CliError
from tracelake.cli._render import format_duration, format_time
from tracelake.cli.auth import server_client
from tracelake.store import SqlTraceStore

if TYPE_CHECKING:
    from tracelake.client import ArchiveStatus, Client
    from tracelake.model import Experiment


def _store(args: argparse.Namespace) -> SqlTraceStore:
    return _sdk.local_store(args, "the archive commands work")


def _requires_extra() -> None:
    try:
        import deltalake  # noqa: F401
        import duckdb  # noqa: F401
    except ImportError as exc:
        raise CliError(f"{exc.name} is not installed: pip install 'tracelake[monitoring]'") from exc


def _remote_experiment(client: Client, args: argparse.Namespace) -> Experiment:
    if args.experiment:
        found = client.get_experiment_by_name(args.experiment)
        if found is None:
            raise CliError(f"no experiment named {args.experiment!r} on {client.base_url} (or you cannot read it)")
        return found
    return client.get_experiment(str(args.experiment_id))


def enable(args: argparse.Namespace) -> int:
    """Turn archiving on for an experiment at a location and interval."""
    from tracelake.monitoring.archive import settings as st

    client = server_client(args)
    if client is not None:
        with client:
            experiment = _remote_experiment(client, args)
            status = client.set_archive(experiment.experiment_id, args.location, args.interval // 1000)
        name, location = experiment.name, status.location
    else:
        store = _store(args)
        experiment = _sdk.selected_experiment(store, args)
        st.enable(store.engine, experiment.experiment_id, args.location, args.interval // 1000)
        name, location = experiment.name, args.location
    print(
        f"Archiving experiment {name!r} to {location} every {format_duration(args.interval)}"
        " (run 'tracelake monitor' to keep it in sync)."
    )
    return EXIT_OK


def disable(args: argparse.Namespace) -> int:
    """Turn archiving off for an experiment (its tables stay)."""
    from tracelake.monitoring.archive import settings as st

    client = server_client(args)
    if client is not None:
        with client:
            experiment = _remote_experiment(client, args)
            client.disable_archive(experiment.experiment_id)
        name = experiment.name
    else:
        store = _store(args)
        experiment = _sdk.selected_experiment(store, args)
        st.disable(store.engine, experiment.experiment_id)
        name = experiment.name
    print(f"Archiving of experiment {name!r} is off; its tables stay where they are.")
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


def _row(status: ArchiveStatus) -> dict[str, Any]:
    """One line of `archive status --json` (the same fields for a local store and a server)."""
    return {
        "experiment_id": status.experiment_id,
        "experiment": status.experiment_name or status.experiment_id,
        "location": status.location,
        "enabled": status.enabled,
        "interval_seconds": status.interval_seconds,
        "lag_ms": status.lag_ms,
        "watermark_ms": status.watermark_ms,
        "last_sync_time": status.last_sync_time_ms,
        "last_success_time": status.last_success_time_ms,
        "last_status": status.last_status,
        "last_error": status.last_error,
        "rows_written": status.rows_written,
        "syncing_now": status.syncing_now,
    }


def _local_status(args: argparse.Namespace) -> list[ArchiveStatus]:
    from tracelake.client import ArchiveStatus
    from tracelake.monitoring.archive import settings as st

    store = _store(args)
    wanted = _sdk.selected_experiment(store, args).experiment_id if (args.experiment or args.experiment_id) else None
    names = {experiment.experiment_id: experiment.name for experiment in store.list_experiments(include_deleted=True)}
    return [
        ArchiveStatus.from_dict({**found.to_dict(), "experiment_name": names.get(found.settings.experiment_id)})
        for found in st.list_status(store.engine)
        if wanted is None or found.settings.experiment_id == wanted
    ]


def _remote_status(client: Client, args: argparse.Namespace) -> list[ArchiveStatus]:
    with client:
        if not (args.experiment or args.experiment_id):
            return client.list_archives()
        found = client.get_archive(_remote_experiment(client, args).experiment_id)
        return [] if found is None else [found]


def status(args: argparse.Namespace) -> int:
    """Show, per archived experiment, the lag, the last sync, its outcome and the rows written."""
    client = server_client(args)
    rows = [_row(found) for found in (_local_status(args) if client is None else _remote_status(client, args))]
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
