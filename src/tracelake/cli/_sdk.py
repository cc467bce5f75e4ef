"""What every data command does first: configure the SDK from the global options, find experiments."""

from __future__ import annotations

import argparse
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import tracelake
from tracelake import _config
from tracelake.cli._errors import CliError


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
