"""Allowed artifact roots: where experiments may keep payloads.

Whoever may create an experiment (any user of a server's REST API) chooses its artifact location,
and the server then writes and deletes objects there with its own permissions. Without a limit,
that is a way to make the server write to `/etc` or wipe another bucket. So a store is given a few
roots, and a location must lie inside one of them:

- local paths are compared after resolving symbolic links and `..` (`os.path.realpath`), so neither
  `/srv/a/../../etc` nor a symlink inside a root pointing outside it gets through;
- `s3://` locations must be in the same bucket, under the root's key prefix, segment by segment
  (`s3://b/team` does not admit `s3://b/team-other`).

The check runs when a location is set (experiment creation, `set_artifact_location`); locations
already stored keep working when the roots change.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from tracelake.exceptions import InvalidArgumentError, StoreError
from tracelake.store.artifacts.base import check_artifact_location, local_path_of
from tracelake.store.artifacts.s3 import is_s3_uri, parse_s3_uri


@dataclass(frozen=True)
class _Root:
    location: str  # canonical form, for messages
    local_path: str | None  # set for local roots
    bucket: str | None  # set for S3 roots
    prefix_parts: tuple[str, ...] = ()

    def admits(self, location: str) -> bool:
        if self.bucket is not None:
            if not is_s3_uri(location):
                return False
            bucket, prefix = parse_s3_uri(location)
            parts = tuple(prefix.split("/")) if prefix else ()
            return bucket == self.bucket and parts[: len(self.prefix_parts)] == self.prefix_parts
        path = local_path_of(location)
        if path is None or self.local_path is None:
            return False
        # Resolved at every check: links may be created or changed after the store was opened.
        return Path(os.path.realpath(path)).is_relative_to(os.path.realpath(self.local_path))


def _root(location: str) -> _Root:
    canonical = check_artifact_location(location)
    if is_s3_uri(canonical):
        bucket, prefix = parse_s3_uri(canonical)
        return _Root(canonical, None, bucket, tuple(prefix.split("/")) if prefix else ())
    return _Root(canonical, local_path_of(canonical), None)


class ArtifactRoots:
    """The roots inside which artifact locations are allowed.

    Args:
        roots: local folders, `file://` URIs or `s3://bucket/prefix` URIs (at least one).

    Raises:
        StoreError: a root is itself invalid, or none is given.
    """

    def __init__(self, roots: Iterable[str]) -> None:
        self._roots = tuple(_root(location) for location in dict.fromkeys(roots))
        if not self._roots:
            raise StoreError("at least one allowed artifact root is needed")

    @property
    def roots(self) -> tuple[str, ...]:
        """The allowed roots, in canonical form."""
        return tuple(root.location for root in self._roots)

    def check(self, location: str) -> str:
        """Return `location` in canonical form if it lies inside an allowed root.

        Raises:
            StoreError: the location is invalid, or outside every allowed root (the message names
                both the location and the roots).
        """
        canonical = check_artifact_location(location)
        if any(root.admits(canonical) for root in self._roots):
            return canonical
        allowed = ", ".join(self.roots)
        raise InvalidArgumentError(f"artifact location {location!r} is outside the allowed artifact roots ({allowed})")

    def __repr__(self) -> str:
        return f"ArtifactRoots({list(self.roots)!r})"
