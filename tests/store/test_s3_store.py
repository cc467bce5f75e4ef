"""A store whose payloads live on S3 (moto's server on loopback), with SQLite and PostgreSQL indexes."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tracelake.exceptions import NotFoundError, StoreError
from tracelake.model import TraceState
from tracelake.store import SqlTraceStore
from tracelake.store.retention import DAY_MS, enforce_retention, set_retention

from .builders import T0_MS, make_batch, make_span, pack_names, simple_trace, trace_id
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


@pytest.fixture
def s3_store(database_url: str, bucket: str) -> Iterator[SqlTraceStore]:
    with SqlTraceStore(database_url, f"s3://{bucket}/tracelake") as store:
        yield store


def test_a_trace_round_trips_through_s3(s3_store: SqlTraceStore, bucket: str, client: Any) -> None:
    experiment = s3_store.create_experiment("agent")
    assert experiment.artifact_location == f"s3://{bucket}/tracelake/{experiment.experiment_id}"
    folder = f"tracelake/{experiment.experiment_id}/packs/"

    # Children first, in two batches: a pack each, read back with ranged GETs; the trace still in
    # progress.
    s3_store.write_batches(experiment.experiment_id, [make_batch([make_span(1, 2, 1, 10, 20, inputs={"q": "hi"})])])
    s3_store.write_batches(experiment.experiment_id, [make_batch([make_span(1, 3, 1, 30, 40)])])
    assert len(object_keys(client, bucket, folder)) == 2
    assert s3_store.get_trace_info(trace_id(1)).state == TraceState.IN_PROGRESS
    assert [span.name for span in s3_store.get_spans(trace_id(1))] == ["span-2", "span-3"]

    # The root arrives: the trace ends and its members are compacted into one; the packs that held
    # nothing else are deleted.
    s3_store.write_batches(experiment.experiment_id, [make_batch([make_span(1, 1, None, 0, 50, name="root")])])

    (compacted,) = object_keys(client, bucket, folder)
    assert compacted.endswith(".pack")
    trace = s3_store.get_trace(trace_id(1))
    assert trace.info.state == TraceState.OK
    assert [span.name for span in trace.data.spans] == ["root", "span-2", "span-3"]
    assert trace.data.spans[1].inputs == {"q": "hi"}


def test_many_traces_in_one_write(s3_store: SqlTraceStore) -> None:
    experiment_id = s3_store.create_experiment("busy").experiment_id

    result = s3_store.write_batches(experiment_id, [simple_trace(n, start_ms=n) for n in range(1, 41)])
    duplicate = s3_store.write_batches(experiment_id, [simple_trace(7, start_ms=7)])

    assert result.written_spans == 40 * 3
    assert duplicate.duplicate_spans == 3
    assert all(len(s3_store.get_spans(trace_id(n))) == 3 for n in range(1, 41))


def test_deleting_traces_deletes_their_objects(s3_store: SqlTraceStore, bucket: str, client: Any) -> None:
    experiment_id = s3_store.create_experiment("agent").experiment_id
    for n in (1, 2, 3):  # a pack each
        s3_store.write_batches(experiment_id, [simple_trace(n, start_ms=1000 * n)])
    folder = f"tracelake/{experiment_id}/packs/"
    packs = object_keys(client, bucket, folder)

    assert s3_store.delete_traces(experiment_id, trace_ids=[trace_id(2)]) == 1
    assert s3_store.delete_traces(experiment_id, max_timestamp_ms=T0_MS + 1500) == 1

    assert object_keys(client, bucket, folder) == [packs[2]]
    with pytest.raises(NotFoundError):
        s3_store.get_spans(trace_id(1))
    assert len(s3_store.get_spans(trace_id(3))) == 3


def test_retention_deletes_objects_on_s3(s3_store: SqlTraceStore, bucket: str, client: Any) -> None:
    experiment_id = s3_store.create_experiment("agent").experiment_id
    set_retention(s3_store, experiment_id, 2)
    for n in range(1, 6):  # a pack each
        s3_store.write_batches(experiment_id, [simple_trace(n, start_ms=n * DAY_MS)])
    folder = f"tracelake/{experiment_id}/packs/"
    packs = object_keys(client, bucket, folder)

    deleted = enforce_retention(s3_store, now_ms=T0_MS + 5 * DAY_MS, batch_size=2)

    assert deleted == {experiment_id: 3}  # started 4, 3 and 2 days before now (2 days is expired)
    assert object_keys(client, bucket, folder) == packs[3:]


def test_a_local_store_with_an_allowed_s3_root(
    database_url: str, artifact_root: Path, bucket: str, client: Any
) -> None:
    with SqlTraceStore(database_url, str(artifact_root), allowed_artifact_roots=[f"s3://{bucket}/teams/"]) as store:
        local = store.create_experiment("local")
        remote = store.create_experiment("remote", artifact_location=f"s3://{bucket}/teams/search/")
        store.write_batches(local.experiment_id, [simple_trace(1)])
        store.write_batches(remote.experiment_id, [simple_trace(2)])

        assert store.allowed_artifact_roots == (str(artifact_root), f"s3://{bucket}/teams")
        assert remote.artifact_location == f"s3://{bucket}/teams/search"
        assert len(pack_names(artifact_root / local.experiment_id)) == 1
        (pack,) = object_keys(client, bucket)
        assert pack.startswith("teams/search/packs/")
        assert len(store.get_spans(trace_id(2))) == 3
        for refused in (f"s3://{bucket}/teams-other", "s3://another-bucket/teams/x", f"s3://{bucket}"):
            with pytest.raises(StoreError, match="outside the allowed artifact roots"):
                store.set_artifact_location(remote.experiment_id, refused)
        assert store.get_experiment(remote.experiment_id).artifact_location == f"s3://{bucket}/teams/search"


def test_a_failing_bucket_fails_the_write_and_stores_nothing(database_url: str, client: Any) -> None:
    with SqlTraceStore(database_url, "s3://bucket-that-does-not-exist/x") as store:
        experiment_id = store.create_experiment("agent").experiment_id

        with pytest.raises(StoreError, match="bucket does not exist"):
            store.write_batches(experiment_id, [simple_trace(1)])

        assert store.get_trace_infos([trace_id(1)]) == []
