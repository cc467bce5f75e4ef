"""Where a REST client may point an experiment's Delta archive (docs/archive.md#over-the-rest-api).

The monitor writes the tables there and vacuums them: it deletes every file under the location that
no Delta version refers to. A location chosen by an experiment's manager must therefore lie inside
the server's allowed artifact roots (no `..`, no symbolic link out, no other scheme) and must not
overlap anything else the server keeps there: an experiment's payloads, the model registry's
packages, another experiment's archive, or the folder a future experiment would get by default.
A local location must also be writable by the server (or creatable in a writable folder). All of
this is checked before anything is stored, and only for REST clients: the CLI on the database
itself is trusted like `tracelake db upgrade`.
"""

from __future__ import annotations

import os
from pathlib import PurePosixPath

from tracelake.exceptions import StoreError
from tracelake.server.errors import ApiError
from tracelake.store import SqlTraceStore
from tracelake.store.artifacts import ArtifactRoots, check_artifact_location
from tracelake.store.artifacts.base import local_path_of
from tracelake.store.artifacts.s3 import is_s3_uri, parse_s3_uri

__all__ = ["check_archive_location"]

_MODELS_FOLDER = "models"


def _parts(location: str) -> tuple[str, ...]:
    """A location as comparable segments: ("s3", bucket, *prefix) or ("file", *real path)."""
    if is_s3_uri(location):
        bucket, prefix = parse_s3_uri(location)
        return ("s3", bucket, *(part for part in prefix.split("/") if part))
    path = local_path_of(location) or location
    return ("file", *PurePosixPath(os.path.realpath(path)).parts)


def _overlap(first: tuple[str, ...], second: tuple[str, ...]) -> bool:
    shorter = min(len(first), len(second))
    return first[:shorter] == second[:shorter]


def _problem(status: int, message: str) -> ApiError:
    return ApiError(status, f"invalid archive location: {message}")


def _check_writable(path: str) -> None:
    target = os.path.realpath(path)
    if os.path.exists(target):
        if not os.path.isdir(target):
            raise _problem(400, f"{path!r} exists and is not a folder")
        if not os.access(target, os.W_OK | os.X_OK):
            raise _problem(400, f"the server cannot write to {path!r}")
        return
    parent = os.path.dirname(target)
    while parent and not os.path.exists(parent):
        parent = os.path.dirname(parent)
    if not os.path.isdir(parent) or not os.access(parent, os.W_OK | os.X_OK):
        raise _problem(400, f"the server cannot create {path!r} (its folder {parent!r} is not writable)")


def check_archive_location(location: str, store: SqlTraceStore, experiment_id: str) -> str:
    """Return the location to store for the experiment's archive, or raise a 400 naming the problem.

    Local locations are returned as absolute paths (what the monitor opens), `s3://` URIs as given.
    """
    location = location.strip()
    if not location:
        raise _problem(400, "it is empty: give a folder or an s3://bucket/prefix URI")
    try:
        canonical = ArtifactRoots(store.allowed_artifact_roots).check(location)
        roots = [check_artifact_location(root) for root in store.allowed_artifact_roots]
        default_root = check_artifact_location(store.default_artifact_root)
    except StoreError as exc:
        raise _problem(400, str(exc)) from None
    wanted = _parts(canonical)
    for root in roots:
        # The root itself, or a folder holding it, holds every experiment's payloads.
        if _parts(root)[: len(wanted)] == wanted:
            raise _problem(400, f"{location!r} holds the artifact root {root!r}: choose a folder inside a root")
    default = _parts(default_root)
    if len(wanted) > len(default) and wanted[: len(default)] == default:
        first = wanted[len(default)]
        if first.isdigit() or first == _MODELS_FOLDER:
            raise _problem(
                400, f"{location!r} is reserved for experiments' payloads and model packages: choose another folder"
            )
    taken: list[tuple[str, str]] = []
    for experiment in store.list_experiments(include_deleted=True):
        taken.append((f"the payloads of experiment {experiment.experiment_id}", experiment.artifact_location))
    from tracelake.monitoring.archive import settings as st

    for other in st.list_settings(store.engine):
        if other.experiment_id != experiment_id:
            taken.append((f"the archive of experiment {other.experiment_id}", other.location))
    for what, where in taken:
        if where and _overlap(wanted, _parts(where)):
            raise _problem(400, f"{location!r} overlaps {what}: choose a folder of its own")
    if is_s3_uri(canonical):
        return canonical
    path = local_path_of(canonical) or canonical
    _check_writable(path)
    return os.path.abspath(path)
