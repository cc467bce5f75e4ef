"""`S3ArtifactRepository`: objects in an S3 bucket (AWS, MinIO, Ceph, moto…) under a key prefix.

boto3 is imported only when an S3 client is first needed (the `s3` extra), so a store with local
artifact locations never loads it. The client is configured the way every AWS tool is — credentials,
region, `AWS_ENDPOINT_URL(_S3)`, `AWS_MAX_ATTEMPTS`, profiles — plus `TRACELAKE_S3_ENDPOINT_URL`,
which wins over the AWS variables and switches to path-style addressing (what S3-compatible servers
on a plain host and port expect).
"""

from __future__ import annotations

import importlib
import os
import re
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from tracelake.exceptions import InvalidArgumentError, NotFoundError, StoreError, TracelakeError
from tracelake.store.artifacts.base import check_key

SCHEME = "s3"
ENDPOINT_ENV = "TRACELAKE_S3_ENDPOINT_URL"

# Bucket naming rules of S3 (lowercase letters, digits, dots and hyphens, 3 to 63 characters).
_BUCKET = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
# DeleteObjects takes at most this many keys per request.
_DELETE_BATCH = 1000
# One segment write per trace of a batch runs on several threads, and a server handles many
# requests at once: botocore's default pool of 10 connections would make them queue.
_MAX_POOL_CONNECTIONS = 64
_NOT_FOUND_CODES = frozenset({"NoSuchKey", "404", "NotFound"})


def is_s3_uri(location: str) -> bool:
    """Return whether `location` is an `s3://` URI."""
    return urlsplit(location).scheme.lower() == SCHEME


def parse_s3_uri(location: str) -> tuple[str, str]:
    """Split `s3://bucket/some/prefix` into the bucket and the prefix (without slashes at its ends).

    Raises:
        StoreError: not an `s3://` URI, an invalid bucket name, a query or fragment, or a prefix
            with empty, `.` or `..` segments.
    """
    parsed = urlsplit(location)
    if parsed.scheme.lower() != SCHEME:
        raise InvalidArgumentError(f"artifact location {location!r} is not an s3:// URI")
    if parsed.query or parsed.fragment or "?" in location or "#" in location:
        raise InvalidArgumentError(f"artifact location {location!r}: an S3 location may not contain '?' or '#'")
    if not _BUCKET.match(parsed.netloc) or ".." in parsed.netloc:
        raise InvalidArgumentError(f"artifact location {location!r}: {parsed.netloc!r} is not a valid S3 bucket name")
    prefix = parsed.path.strip("/")
    if prefix:
        try:
            check_key(prefix)
        except StoreError:
            raise InvalidArgumentError(
                f"artifact location {location!r}: the key prefix may not contain empty, '.' or '..' segments"
            ) from None
    return parsed.netloc, prefix


def check_s3_location(location: str) -> str:
    """Validate an `s3://` artifact location and return it in canonical form (`s3://bucket/prefix`)."""
    bucket, prefix = parse_s3_uri(location)
    return f"{SCHEME}://{bucket}/{prefix}" if prefix else f"{SCHEME}://{bucket}"


@dataclass(frozen=True)
class S3Settings:
    """How S3 clients are made; everything else comes from botocore's own configuration chain."""

    endpoint_url: str | None = None
    """An S3-compatible endpoint (e.g. `http://127.0.0.1:9000`); None for AWS or `AWS_ENDPOINT_URL`."""

    @classmethod
    def from_environ(cls, environ: Mapping[str, str]) -> S3Settings:
        """Read `TRACELAKE_S3_ENDPOINT_URL` (AWS_* variables are read by botocore itself)."""
        return cls(endpoint_url=environ.get(ENDPOINT_ENV, "").strip() or None)


def create_s3_client(settings: S3Settings) -> Any:
    """Return a new boto3 S3 client (thread-safe, so one can serve a whole store).

    Raises:
        StoreError: boto3 is not installed, or the configuration is invalid.
    """
    try:
        boto3_session = importlib.import_module("boto3.session")
        botocore_config = importlib.import_module("botocore.config")
    except ImportError as exc:
        raise StoreError("S3 artifact locations need boto3: pip install 'tracelake[s3]'") from exc
    options: dict[str, Any] = {
        # "standard" retries throttling and transient errors with backoff; AWS_MAX_ATTEMPTS still applies.
        "retries": {"mode": "standard"},
        "max_pool_connections": _MAX_POOL_CONNECTIONS,
        "connect_timeout": 10,
        "read_timeout": 60,
    }
    if settings.endpoint_url is not None:
        options["s3"] = {"addressing_style": "path"}
    with _s3_errors(f"create an S3 client for {settings.endpoint_url or 'AWS'}"):
        # A session per client: boto3's default session is shared global state and not thread-safe.
        session = boto3_session.Session()
        return session.client("s3", endpoint_url=settings.endpoint_url, config=botocore_config.Config(**options))


def _error_code(exc: BaseException) -> str:
    response = getattr(exc, "response", None)
    if isinstance(response, Mapping):
        error = response.get("Error")
        if isinstance(error, Mapping):
            return str(error.get("Code", ""))
    return ""


@contextmanager
def _s3_errors(action: str, *, missing: str | None = None) -> Iterator[None]:
    """Re-raise botocore/urllib3 errors as `StoreError`; a missing key as `NotFoundError(missing)`."""
    try:
        yield
    except TracelakeError:
        raise
    except Exception as exc:
        module = type(exc).__module__
        if not (module.startswith(("botocore", "boto3", "urllib3")) or isinstance(exc, OSError)):
            raise
        code = _error_code(exc)
        if missing is not None and code in _NOT_FOUND_CODES:
            raise NotFoundError(missing) from exc
        if code == "NoSuchBucket":
            raise StoreError(f"{action}: the bucket does not exist") from exc
        detail = " ".join(str(exc).split()) or type(exc).__name__
        raise StoreError(f"{action}: {detail}") from exc


class S3ArtifactRepository:
    """An `ArtifactRepository` over `s3://bucket/prefix`: each key is the object `prefix/key`.

    `put` is one PutObject, which S3 makes visible whole or not at all; listings are strongly
    consistent on AWS and on the usual S3-compatible servers, which the payload layer relies on.
    """

    __slots__ = ("_bucket", "_client", "_prefix", "_root_uri")

    def __init__(self, root_uri: str, client: Any = None) -> None:
        """Root the repository at `root_uri`.

        Args:
            root_uri: `s3://bucket` or `s3://bucket/prefix`.
            client: a boto3 S3 client to share (a store passes one client to all its repositories);
                by default one is made from the environment, which costs tens of milliseconds.

        Raises:
            StoreError: the URI is invalid, or boto3 is missing.
        """
        self._root_uri = root_uri
        self._bucket, prefix = parse_s3_uri(root_uri)
        self._prefix = f"{prefix}/" if prefix else ""
        if client is None:
            client = create_s3_client(S3Settings.from_environ(os.environ))
        self._client = client

    @property
    def root_uri(self) -> str:
        return self._root_uri

    @property
    def bucket(self) -> str:
        """The bucket objects are stored in."""
        return self._bucket

    def _key(self, key: str) -> str:
        return self._prefix + check_key(key)

    def put(self, key: str, data: bytes) -> None:
        object_key = self._key(key)
        with _s3_errors(f"write artifact {key!r} under {self._root_uri}"):
            self._client.put_object(Bucket=self._bucket, Key=object_key, Body=data)

    def get(self, key: str) -> bytes:
        object_key = self._key(key)
        missing = f"no artifact {key!r} under {self._root_uri}"
        with _s3_errors(f"read artifact {key!r} under {self._root_uri}", missing=missing):
            body = self._client.get_object(Bucket=self._bucket, Key=object_key)["Body"]
            try:
                return bytes(body.read())
            finally:
                body.close()

    def get_range(self, key: str, start: int, length: int) -> bytes:
        if length <= 0:
            return b""
        object_key = self._key(key)
        missing = f"no artifact {key!r} under {self._root_uri}"
        with _s3_errors(f"read artifact {key!r} under {self._root_uri}", missing=missing):
            # HTTP byte ranges are inclusive at both ends.
            body = self._client.get_object(
                Bucket=self._bucket, Key=object_key, Range=f"bytes={start}-{start + length - 1}"
            )["Body"]
            try:
                return bytes(body.read())
            finally:
                body.close()

    def list(self, prefix: str = "") -> list[str]:
        keys: list[str] = []
        with _s3_errors(f"list artifacts under {self._root_uri}"):
            for object_key in self._object_keys(self._prefix + prefix):
                keys.append(object_key[len(self._prefix) :])
        return sorted(keys)

    def _object_keys(self, prefix: str) -> Iterator[str]:
        paginator = self._client.get_paginator("list_objects_v2")
        for page in paginator.paginate(Bucket=self._bucket, Prefix=prefix):
            for item in page.get("Contents", ()):
                yield str(item["Key"])

    def delete(self, key: str) -> None:
        object_key = self._key(key)
        with _s3_errors(f"delete artifact {key!r} under {self._root_uri}"):
            # S3 answers 204 for a key that is not there: deleting twice is not an error.
            self._client.delete_object(Bucket=self._bucket, Key=object_key)

    def delete_all(self) -> None:
        action = f"delete artifacts under {self._root_uri}"
        with _s3_errors(action):
            batch: list[dict[str, str]] = []
            for object_key in self._object_keys(self._prefix):
                batch.append({"Key": object_key})
                if len(batch) == _DELETE_BATCH:
                    self._delete_objects(batch, action)
                    batch = []
            if batch:
                self._delete_objects(batch, action)

    def _delete_objects(self, batch: Sequence[Mapping[str, str]], action: str) -> None:
        response = self._client.delete_objects(Bucket=self._bucket, Delete={"Objects": list(batch), "Quiet": True})
        errors = response.get("Errors") or []
        if errors:
            first = errors[0]
            raise StoreError(
                f"{action}: {len(errors)} object(s) not deleted, e.g. {first.get('Key')!r}: {first.get('Message')}"
            )

    def __repr__(self) -> str:
        return f"S3ArtifactRepository({self._root_uri!r})"
