"""Artifact locations a client may choose: only inside the roots the server was configured with.

The store enforces the roots too (`tracelake.store.artifacts.ArtifactRoots`); checking here first
turns a refused location into a 400 that names the problem rather than a store failure.
"""

from __future__ import annotations

from tracelake.exceptions import StoreError
from tracelake.server.errors import ApiError
from tracelake.store import SqlTraceStore
from tracelake.store.artifacts import ArtifactRoots

__all__ = ["check_allowed_location"]


def check_allowed_location(location: str, store: SqlTraceStore) -> str:
    """Return `location` in canonical form if it is valid and inside one of the store's allowed roots.

    Raises:
        ApiError: 400 naming the problem (an invalid location, or one outside every root).
    """
    try:
        return ArtifactRoots(store.allowed_artifact_roots).check(location)
    except StoreError as exc:
        raise ApiError(400, f"invalid artifact_location: {exc}") from None
