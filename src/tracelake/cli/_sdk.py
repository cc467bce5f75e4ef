"""What every data command does first: configure the SDK from the global options, find experiments."""

from __future__ import annotations

import argparse
import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import tracelake
from tracelake import _config
from tracelake.cli._errors import CliError

if TYPE_CHECKING:
    from tracelake.model import Experiment
    from tracelake.store import SqlTraceStore


def configure(args: argparse.Namespace, **settings: Any) -> None:
    """Point the SDK at the store named by `--home` / `--tracking-uri` (or their environment variables).

    Args:
        args: the parsed command line.
        **settings: further `tracelake.configure` arguments the command pins (e.g. `environment`).
    """
    tracelake.configure(home=args.home, tracking_uri=args.tracking_uri, **settings)


def data_location(args: argparse.Namespace) -> str:
    """Describe where the data lives, the way `configure` resolves it (for messages only)."""
    uri = _config.TRACKING_URI.resolve(args.tracking_uri, os.environ)
    if uri is not None and "://" in uri and not uri.startswith("file://"):
        return uri  # a database URL
    folder = _config.HOME.resolve(args.home, os.environ) if uri is None else uri.removeprefix("file://")
    return str(Path(folder).expanduser().resolve())


def experiment_id(name: str) -> str:
    """Return the id of the experiment called `name`, or fail with a message that says so."""
    experiment = tracelake.get_experiment_by_name(name)
    if experiment is None:
        raise CliError(f"no experiment named {name!r} (check the name, --home and --tracking-uri)")
    return experiment.experiment_id


def experiment_ids(names: Sequence[str] | None, ids: Sequence[str] | None) -> list[str] | None:
    """Resolve `--experiment` names and `--experiment-id` ids; None when neither was given."""
    if names:
        return [experiment_id(name) for name in names]
    if ids:
        return list(ids)
    return None


def local_store(args: argparse.Namespace, subject: str) -> SqlTraceStore:
    """Configure from the global options and return the local store (embedded folder or database URL).

    Args:
        args: the parsed command line.
        subject: who needs it, for the error, e.g. "'tracelake experiments' works".

    Raises:
        CliError: the destination is a server, not a store this process can open.
    """
    from tracelake import _setup
    from tracelake.exceptions import ConfigError
    from tracelake.store import SqlTraceStore

    configure(args)
    try:
        store = _setup.get_store()
    except ConfigError as exc:
        raise CliError(
            f"{exc}: {subject} on a local store for now (--home, or --tracking-uri sqlite:///… or postgresql://…)"
        ) from exc
    if not isinstance(store, SqlTraceStore):  # pragma: no cover - every local destination is a SqlTraceStore
        raise CliError(f"cannot use a {type(store).__name__} here")
    return store


def selected_experiment(store: SqlTraceStore, args: argparse.Namespace) -> Experiment:
    """Return the experiment named by `--experiment NAME` or `--experiment-id ID`.

    Raises:
        CliError: no experiment has that name.
    """
    if args.experiment:
        experiment = store.get_experiment_by_name(args.experiment)
        if experiment is None:
            raise CliError(f"no experiment named {args.experiment!r} (check the name, --home and --tracking-uri)")
        return experiment
    return store.get_experiment(args.experiment_id)
