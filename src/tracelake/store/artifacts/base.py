"""Artifact repositories: flat object stores rooted at a URI (a local folder or an S3 bucket).

A repository knows nothing about traces: it puts, gets, lists and deletes objects by key, the way
an object store does. `tracelake.store.artifacts.payload` builds trace payloads on top of that, so a
new backend implements only these few primitives.
"""

from __future__ import annotations

from pathlib import Path, PurePosixPath
from typing import Protocol, runtime_checkable
from urllib.parse import unquote, urlsplit

from tracelake.exceptions import InvalidArgumentError


@runtime_checkable
class ArtifactRepository(Protocol):
    """Objects under one root URI, addressed by relative `/`-separated keys.

    Thread contract: every method may be called from any thread and by several processes at once.
    `put` is atomic: a reader sees the whole object or none of it, never a part.
    """

    @property
    def root_uri(self) -> str:
        """The location this repository is rooted at, as it was given."""
        ...

    def put(self, key: str, data: bytes) -> None:
        """Store `data` under `key`, replacing any object there, atomically."""
        ...

    def get(self, key: str) -> bytes:
        """Return the object under `key`; raise `NotFoundError` if there is none."""
        ...

    def get_range(self, key: str, start: int, length: int) -> bytes:
        """Return `length` bytes of the object under `key` from byte `start`; `NotFoundError` if missing.

        Fewer bytes come back only when the object ends sooner.
        """
        ...

    def list(self, prefix: str = "") -> list[str]:
        """Return the keys under the root that start with `prefix`, sorted."""
        ...

    def delete(self, key: str) -> None:
        """Delete the object under `key`; deleting a missing object is not an error."""
        ...

    def delete_all(self) -> None:
        """Delete every object under the root."""
        ...


_LOCAL_SCHEMES = ("", "file")


def check_key(key: str) -> str:
    """Return `key` if it is a safe relative object key, else raise `StoreError`.

    Keys may not be absolute, contain empty, `.` or `..` segments, backslashes or NUL characters:
    whatever the backend, a key never addresses anything outside its repository's root.
    """
    parts = key.split("/")
    if not key or "\\" in key or "\x00" in key or any(part in ("", ".", "..") for part in parts):
        raise InvalidArgumentError(f"invalid artifact key {key!r}")
    return key


def local_path_of(location: str) -> str | None:
    """Return the local filesystem path `location` names, or None if it is a remote URI.

    Accepts plain paths and `file://` URIs (`file:///abs/path` or `file://localhost/abs/path`).

    Raises:
        StoreError: `location` is empty or a `file://` URI names another host.
    """
    if not location or "\x00" in location:
        raise InvalidArgumentError(f"invalid artifact location {location!r}")
    parsed = urlsplit(location)
    # "C:\\data" parses with the one-letter scheme "c": a Windows drive, not a URI scheme.
    if len(parsed.scheme) == 1 or parsed.scheme == "":
        return location
    if parsed.scheme == "file":
        if parsed.netloc not in ("", "localhost"):
            raise InvalidArgumentError(f"artifact location {location!r} names the remote host {parsed.netloc!r}")
        return unquote(parsed.path)
    return None


def check_artifact_location(location: str) -> str:
    """Validate an experiment's artifact location and return it in canonical form.

    Local paths are made absolute (an app and a server started in different folders must agree on
    where payloads live); `file://` URIs are kept as URIs; `s3://bucket/prefix` URIs lose trailing
    slashes.

    Raises:
        StoreError: the location uses an unsupported scheme (local paths, `file://` and `s3://`
            URIs are supported) or contains a `..` segment.
    """
    path = local_path_of(location)
    if path is None:
        scheme = urlsplit(location).scheme
        if scheme.lower() == "s3":
            # Imported here: the S3 module builds on this one.
            from tracelake.store.artifacts.s3 import check_s3_location

            return check_s3_location(location)
        raise InvalidArgumentError(
            f"artifact location {location!r}: the {scheme!r} scheme is not supported yet;"
            " use a local folder, a file:// URI or s3://bucket/prefix"
        )
    if ".." in PurePosixPath(path.replace("\\", "/")).parts:
        raise InvalidArgumentError(f"artifact location {location!r} contains '..' (path traversal is not allowed)")
    if urlsplit(location).scheme == "file":
        return location.rstrip("/")
    return str(Path(path).expanduser().absolute())


def join_uri(location: str, *parts: str) -> str:
    """Join a location (path or URI) and relative parts with `/` (what object stores use)."""
    return "/".join([location.rstrip("/"), *(check_key(part) for part in parts)])
