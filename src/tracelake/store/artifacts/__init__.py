"""Artifact repositories (where span payloads and other large objects live) and trace payloads."""

from __future__ import annotations

from tracelake.store.artifacts.base import ArtifactRepository, check_artifact_location, join_uri
from tracelake.store.artifacts.local import LocalArtifactRepository
from tracelake.store.artifacts.payload import TracePayloads, artifact_repository
from tracelake.store.artifacts.resolve import ArtifactRepositories
from tracelake.store.artifacts.roots import ArtifactRoots
from tracelake.store.artifacts.s3 import S3ArtifactRepository

__all__ = [
    "ArtifactRepositories",
    "ArtifactRepository",
    "ArtifactRoots",
    "LocalArtifactRepository",
    "S3ArtifactRepository",
    "TracePayloads",
    "artifact_repository",
    "check_artifact_location",
    "join_uri",
]
