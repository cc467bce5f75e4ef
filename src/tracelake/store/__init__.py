"""Persistence of experiments and traces: a SQL index plus span payloads in artifact repositories.

`open_embedded_store("./tracelake-data")` is SQLite plus a local folder; a server uses
`SqlTraceStore("postgresql://…", "/srv/tracelake/artifacts")`.
"""

from __future__ import annotations

from pathlib import Path

from sqlalchemy.engine import URL

from tracelake.store.artifacts import ArtifactRepository, LocalArtifactRepository
from tracelake.store.base import ModelRegistryStore, TraceStore
from tracelake.store.sql import SqlTraceStore

__all__ = [
    "ArtifactRepository",
    "LocalArtifactRepository",
    "ModelRegistryStore",
    "SqlTraceStore",
    "TraceStore",
    "open_embedded_store",
]

DATABASE_FILE = "tracelake.db"
ARTIFACTS_DIR = "artifacts"


def open_embedded_store(home: str | Path) -> SqlTraceStore:
    """Open the embedded store in `home`: SQLite at `<home>/tracelake.db`, payloads in `<home>/artifacts`.

    The folder is created if needed. Several processes (an app and `tracelake server`) may open
    the same home at once.

    Raises:
        StoreError: the folder or database cannot be created or opened.
    """
    root = Path(home).expanduser().absolute()
    # URL.create, not an f-string: a folder name may contain '?' or '#'.
    return SqlTraceStore(URL.create("sqlite", database=str(root / DATABASE_FILE)), str(root / ARTIFACTS_DIR))
