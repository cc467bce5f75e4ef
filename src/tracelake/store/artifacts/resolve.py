"""Choosing the artifact repository for a location: a local folder or an S3 bucket, by URI scheme."""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Mapping
from typing import Any

from tracelake.store.artifacts.base import ArtifactRepository
from tracelake.store.artifacts.local import LocalArtifactRepository
from tracelake.store.artifacts.s3 import S3ArtifactRepository, S3Settings, create_s3_client, is_s3_uri

logger = logging.getLogger(__name__)


def artifact_repository(uri: str) -> ArtifactRepository:
    """Return a repository for one location: `s3://…`, a local path or a `file://` URI.

    Each S3 repository made here has a client of its own; code that opens many repositories (the
    store opens one per trace read or write) should use an `ArtifactRepositories`, which shares one.

    Raises:
        StoreError: the location is invalid or its scheme is not supported.
    """
    if is_s3_uri(uri):
        return S3ArtifactRepository(uri)
    return LocalArtifactRepository(uri)


class ArtifactRepositories:
    """Makes repositories by location URI, sharing one S3 client among all of them.

    Call it like `artifact_repository` (it is what a store hands to `TracePayloads`). The S3 settings
    are read from the environment when it is created; the client is made at the first S3 location.

    Thread contract: callable from any thread; the S3 client is thread-safe.
    """

    def __init__(self, environ: Mapping[str, str] | None = None) -> None:
        """Create the factory, reading `TRACELAKE_S3_ENDPOINT_URL` from `environ` (default `os.environ`)."""
        self._s3_settings = S3Settings.from_environ(os.environ if environ is None else environ)
        self._lock = threading.Lock()
        self._s3_client: Any = None

    @property
    def s3_settings(self) -> S3Settings:
        """The settings S3 clients are made with."""
        return self._s3_settings

    def __call__(self, uri: str) -> ArtifactRepository:
        """Return the repository rooted at `uri`.

        Raises:
            StoreError: the location is invalid, or it is on S3 and boto3 is missing.
        """
        if is_s3_uri(uri):
            return S3ArtifactRepository(uri, client=self._client())
        return LocalArtifactRepository(uri)

    def _client(self) -> Any:
        with self._lock:
            if self._s3_client is None:
                self._s3_client = create_s3_client(self._s3_settings)
            return self._s3_client

    def close(self) -> None:
        """Close the shared S3 client's connections (a later S3 location opens a new client)."""
        with self._lock:
            client, self._s3_client = self._s3_client, None
        if client is not None:
            try:
                client.close()
            except Exception:  # closing is best effort: never fail a store's close over it
                logger.debug("could not close the S3 client", exc_info=True)
