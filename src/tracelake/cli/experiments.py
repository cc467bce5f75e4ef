"""`tracelake experiments list | create | rename | set-retention | delete | enforce-retention`.

The commands work on a local store: the embedded folder (`--home`) or a database named by
`--tracking-uri` (`sqlite:///…`, `postgresql://…`). Against a server, use its REST API for now.
"""

from __future__ import annotations

import argparse
import json
import sys
import time

from rich.console import Console
from rich.table import Table

from tracelake.cli import _sdk
from tracelake.cli._errors import EXIT_OK
from tracelake.cli.traces import _confirm
from tracelake.exceptions import ConfigError
from tracelake.model import Experiment
from tracelake.store import SqlTraceStore
from tracelake.store.retention import RETENTION_TAG, enforce_retention, retention_days, set_retention


def _store(args: argparse.Namespace) -> SqlTraceStore:
    return _sdk.local_store(args, "'tracelake experiments' works")


def _retention_text(experiment: Experiment) -> str:
    try:
        days = retention_days(experiment)
    except ConfigError:
        return f"invalid ({experiment.tags[RETENTION_TAG]!r})"
    return "forever" if days is None else f"{days} day{'' if days == 1 else 's'}"


def _created(experiment: Experiment) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(experiment.creation_time / 1000))


def list_experiments(args: argparse.Namespace) -> int:
    """List the experiments (with `--include-deleted`, the deleted ones too), oldest first."""
    experiments = _store(args).list_experiments(include_deleted=args.include_deleted)
    if args.json:
        for experiment in experiments:
            sys.stdout.write(json.dumps(experiment.to_dict(), ensure_ascii=False) + "\n")
        return EXIT_OK
    console = Console()
    if not experiments:
        console.print("No experiments.")
        return EXIT_OK
    table = Table(box=None, header_style="bold", pad_edge=False)
    for column in ("id", "name", "retention", "created", "artifact location"):
        table.add_column(column, no_wrap=column != "artifact location", overflow="fold")
    if args.include_deleted:
        table.add_column("stage", no_wrap=True)
    for experiment in experiments:
        row = [experiment.experiment_id, experiment.name, _retention_text(experiment), _created(experiment)]
        row.append(experiment.artifact_location)
        if args.include_deleted:
            row.append(experiment.lifecycle_stage)
        table.add_row(*row)
    console.print(table)
    return EXIT_OK


def create(args: argparse.Namespace) -> int:
    """Create an experiment, optionally with an artifact location, tags and a retention period."""
    tags = dict(args.tag or [])
    if args.retention_days is not None:
        tags[RETENTION_TAG] = str(args.retention_days)
    experiment = _store(args).create_experiment(args.name, args.artifact_location, tags or None)
    print(f"Created experiment {experiment.name!r} (id {experiment.experiment_id}).")
    print(f"Payloads: {experiment.artifact_location}")
    print(f"Retention: {_retention_text(experiment)}")
    return EXIT_OK


def rename(args: argparse.Namespace) -> int:
    """Give an active experiment a new name."""
    store = _store(args)
    experiment = _sdk.selected_experiment(store, args)
    renamed = store.rename_experiment(experiment.experiment_id, args.new_name)
    print(f"Renamed experiment {experiment.experiment_id}: {experiment.name!r} -> {renamed.name!r}.")
    return EXIT_OK


def set_retention_command(args: argparse.Namespace) -> int:
    """Set (`--days N`) or remove (`--off`) an experiment's retention period."""
    store = _store(args)
    experiment = _sdk.selected_experiment(store, args)
    updated = set_retention(store, experiment.experiment_id, None if args.off else args.days)
    if args.off:
        print(f"Experiment {updated.name!r} (id {updated.experiment_id}) now keeps its traces forever.")
    else:
        print(
            f"Experiment {updated.name!r} (id {updated.experiment_id}) keeps traces for {_retention_text(updated)};"
            " older ones are deleted by the server's retention worker or 'tracelake experiments enforce-retention'."
        )
    return EXIT_OK


def delete(args: argparse.Namespace) -> int:
    """Mark an experiment deleted (its traces stay until deleted or expired), after confirmation."""
    store = _store(args)
    experiment = _sdk.selected_experiment(store, args)
    if not args.yes:
        _confirm(f"Delete experiment {experiment.name!r} (id {experiment.experiment_id})?")
    store.delete_experiment(experiment.experiment_id)
    print(
        f"Deleted experiment {experiment.name!r} (id {experiment.experiment_id}); its name is free again."
        f" Its traces stay until deleted: tracelake traces delete --experiment-id {experiment.experiment_id} …"
    )
    return EXIT_OK


def enforce_retention_command(args: argparse.Namespace) -> int:
    """Delete, now, every trace older than its experiment's retention period (what the server does)."""
    store = _store(args)
    deleted = enforce_retention(store, time.time_ns() // 1_000_000, batch_size=args.batch_size)
    if not deleted:
        print("No experiment has a retention period.")
        return EXIT_OK
    names = {experiment.experiment_id: experiment.name for experiment in store.list_experiments(include_deleted=True)}
    for experiment_id, count in deleted.items():
        name = names.get(experiment_id, "?")
        print(f"Experiment {name!r} (id {experiment_id}): deleted {count} trace{'' if count == 1 else 's'}.")
    return EXIT_OK
