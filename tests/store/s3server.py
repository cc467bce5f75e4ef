"""An S3-compatible server on loopback for the S3 tests: moto's server mode, in a thread, never AWS."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto.server import ThreadedMotoServer

_AWS_VARIABLES_TO_CLEAR = (
    "AWS_PROFILE",
    "AWS_DEFAULT_PROFILE",
    "AWS_SESSION_TOKEN",
    "AWS_ENDPOINT_URL",
    "AWS_ENDPOINT_URL_S3",
    "AWS_MAX_ATTEMPTS",
    "AWS_RETRY_MODE",
)


@contextmanager
def moto_s3_server() -> Iterator[str]:
    """Start moto's server on 127.0.0.1 (a free port) and yield its endpoint URL."""
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # one log line per request otherwise
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        yield f"http://{host}:{port}"
    finally:
        server.stop()


def use_s3_server(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, endpoint: str | None) -> None:
    """Point tracelake (TRACELAKE_S3_ENDPOINT_URL) at `endpoint`, with fake credentials and no AWS config."""
    for name in _AWS_VARIABLES_TO_CLEAR:
        monkeypatch.delenv(name, raising=False)
    if endpoint is not None:
        monkeypatch.setenv("TRACELAKE_S3_ENDPOINT_URL", endpoint)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    # The developer's ~/.aws must not change what the tests do, nor instance metadata be queried.
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-aws-credentials"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")


def raw_client(endpoint: str) -> Any:
    """A plain boto3 client of the test server, to create buckets and look at objects directly."""
    return boto3.session.Session().client(
        "s3",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )


def new_bucket(client: Any) -> str:
    """Create a bucket with a fresh name (tests share one server, never one bucket)."""
    name = f"tracelake-{uuid.uuid4().hex[:12]}"
    client.create_bucket(Bucket=name)
    return name


def object_keys(client: Any, bucket: str, prefix: str = "") -> list[str]:
    """Every key in `bucket` under `prefix`, sorted."""
    keys: list[str] = []
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        keys.extend(item["Key"] for item in page.get("Contents", ()))
    return sorted(keys)
