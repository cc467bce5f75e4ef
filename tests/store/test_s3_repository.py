from __future__ import annotations

import socket
import sys
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from tracelake.exceptions import NotFoundError, StoreError
from tracelake.store.artifacts import (
    ArtifactRepositories,
    ArtifactRepository,
    LocalArtifactRepository,
    S3ArtifactRepository,
    artifact_repository,
    check_artifact_location,
)

from .s3server import moto_s3_server, new_bucket, object_keys, raw_client, use_s3_server


@pytest.fixture(scope="module")
def endpoint() -> Iterator[str]:
    with moto_s3_server() as url:
        yield url


@pytest.fixture
def client(endpoint: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Any:
    use_s3_server(monkeypatch, tmp_path, endpoint)
    return raw_client(endpoint)


@pytest.fixture
def bucket(client: Any) -> str:
    return new_bucket(client)


def test_round_trip(bucket: str, client: Any) -> None:
    repo = artifact_repository(f"s3://{bucket}/root")

    repo.put("a/b/one.bin", b"1")
    repo.put("two.bin", b"2")
    repo.put("two.bin", b"22")

    assert isinstance(repo, S3ArtifactRepository)
    assert isinstance(repo, ArtifactRepository)
    assert repo.root_uri == f"s3://{bucket}/root"
    assert repo.get("a/b/one.bin") == b"1"
    assert repo.get("two.bin") == b"22"
    assert repo.list() == ["a/b/one.bin", "two.bin"]
    assert repo.list("a/") == ["a/b/one.bin"]
    assert object_keys(client, bucket) == ["root/a/b/one.bin", "root/two.bin"]
    repo.delete("two.bin")
    repo.delete("two.bin")
    assert repo.list() == ["a/b/one.bin"]
    with pytest.raises(NotFoundError, match=r"two\.bin"):
        repo.get("two.bin")
    repo.delete_all()
    repo.delete_all()
    assert repo.list() == []
    assert object_keys(client, bucket) == []


def test_a_repository_sees_only_its_prefix(bucket: str, client: Any) -> None:
    repositories = ArtifactRepositories()
    team, sibling, child = (repositories(f"s3://{bucket}/{prefix}") for prefix in ("team", "team-b", "team/x"))
    whole_bucket = repositories(f"s3://{bucket}")

    team.put("k", b"t")
    sibling.put("k", b"s")
    child.put("k", b"c")

    assert team.list() == ["k", "x/k"]
    assert sibling.list() == ["k"]
    assert whole_bucket.list() == ["team-b/k", "team/k", "team/x/k"]
    team.delete_all()
    assert object_keys(client, bucket) == ["team-b/k"]
    repositories.close()  # closes the shared client; the next S3 location opens a new one
    assert repositories(f"s3://{bucket}/team-b").get("k") == b"s"
    repositories.close()


def test_delete_all_removes_more_objects_than_one_request_takes(bucket: str, client: Any) -> None:
    repo = artifact_repository(f"s3://{bucket}/many")
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda n: repo.put(f"o/{n:05d}", b"x"), range(1003)))
    assert len(repo.list()) == 1003

    repo.delete_all()

    assert object_keys(client, bucket) == []


def test_the_endpoint_may_come_from_the_aws_variable(
    endpoint: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    use_s3_server(monkeypatch, tmp_path, None)
    monkeypatch.setenv("AWS_ENDPOINT_URL", endpoint)
    bucket = new_bucket(raw_client(endpoint))

    repo = artifact_repository(f"s3://{bucket}/via-aws-variable")
    repo.put("k", b"v")

    assert repo.get("k") == b"v"


def test_locations_are_canonical() -> None:
    assert check_artifact_location("s3://my-bucket/a/b/") == "s3://my-bucket/a/b"
    assert check_artifact_location("S3://my-bucket") == "s3://my-bucket"
    assert check_artifact_location("s3://my.bucket.v2/") == "s3://my.bucket.v2"


@pytest.mark.parametrize(
    "location",
    [
        "s3://UPPER/x",
        "s3://ab/x",
        "s3://under_score/x",
        "s3://user@bucket/x",
        "s3://bucket:9000/x",
        "s3://bucket/a/../../other",
        "s3://bucket/a//b",
        "s3://bucket/./a",
        "s3://bucket/a?versionId=1",
        "s3://bucket/a#b",
        "s3:///nobucket",
    ],
)
def test_invalid_locations_are_refused(location: str) -> None:
    with pytest.raises(StoreError, match="artifact location"):
        check_artifact_location(location)
    with pytest.raises(StoreError):
        S3ArtifactRepository(location, client=object())


@pytest.mark.parametrize("key", ["../escape", "a/../../b", "/abs", "", "a//b", "a\\b", "./x"])
def test_unsafe_keys_never_reach_the_server(key: str) -> None:
    # No client at all: the key is refused before any request could be made.
    repo = S3ArtifactRepository("s3://bucket/root", client=object())

    with pytest.raises(StoreError, match="invalid artifact key"):
        repo.put(key, b"x")
    with pytest.raises(StoreError, match="invalid artifact key"):
        repo.get(key)


def test_a_missing_bucket_is_a_store_error(client: Any) -> None:
    repo = artifact_repository("s3://no-such-bucket-here/x")

    for call in (lambda: repo.put("k", b"v"), repo.list, lambda: repo.get("k")):
        with pytest.raises(StoreError, match="bucket does not exist") as caught:
            call()
        assert not isinstance(caught.value, NotFoundError)
        assert type(caught.value.__cause__).__module__.startswith("botocore")


def test_an_unreachable_endpoint_is_a_store_error(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # bound but not listening: connections are refused
        use_s3_server(monkeypatch, tmp_path, f"http://127.0.0.1:{port}")
        monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")

        with pytest.raises(StoreError, match="write artifact 'k' under s3://bucket/x") as caught:
            artifact_repository("s3://bucket/x").put("k", b"v")
    assert "Could not connect" in str(caught.value)


def test_without_boto3_the_error_says_what_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "boto3.session", None)

    with pytest.raises(StoreError, match=r"pip install 'tracelake\[s3\]'"):
        artifact_repository("s3://bucket/x")
    # Local locations never need boto3.
    assert isinstance(ArtifactRepositories()("/tmp/x"), LocalArtifactRepository)
