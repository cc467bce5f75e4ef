from __future__ import annotations

from pathlib import Path

import pytest

from tracelake.exceptions import ConflictError, NotFoundError, StoreError
from tracelake.store import SqlTraceStore

from .builders import pack_names, simple_trace, trace_id


def test_create_and_get(store: SqlTraceStore, artifact_root: Path) -> None:
    created = store.create_experiment("agent", tags={"team": "search"})

    assert created.experiment_id.isdigit()
    assert created.name == "agent"
    assert created.lifecycle_stage == "active"
    assert created.tags == {"team": "search"}
    assert created.artifact_location == f"{artifact_root}/{created.experiment_id}"
    assert created.creation_time > 0
    assert store.get_experiment(created.experiment_id) == created
    assert store.get_experiment_by_name("agent") == created
    assert store.get_experiment_by_name("nobody") is None


def test_ids_are_distinct_strings(store: SqlTraceStore) -> None:
    ids = [store.create_experiment(f"e{i}").experiment_id for i in range(3)]

    assert len(set(ids)) == 3
    assert [e.experiment_id for e in store.list_experiments()] == ids


def test_explicit_artifact_location(store: SqlTraceStore, artifact_root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    uri = (artifact_root / "elsewhere").as_uri()

    assert store.create_experiment("a", artifact_location=uri).artifact_location == uri
    monkeypatch.chdir(artifact_root.parent)
    relative = store.create_experiment("b", artifact_location="artifacts/relative/dir").artifact_location
    assert Path(relative).is_absolute()


@pytest.mark.parametrize("location", ["s3://bucket/prefix", "gs://bucket", "/data/../etc", "file://otherhost/x"])
def test_unsupported_or_unsafe_artifact_locations_are_refused(store: SqlTraceStore, location: str) -> None:
    with pytest.raises(StoreError, match="artifact location"):
        store.create_experiment("x", artifact_location=location)
    assert store.list_experiments() == []


def test_name_conflict(store: SqlTraceStore) -> None:
    store.create_experiment("agent")

    with pytest.raises(ConflictError, match="agent"):
        store.create_experiment("agent")
    assert len(store.list_experiments()) == 1


@pytest.mark.parametrize("name", ["", "   ", "x" * 501])
def test_invalid_names(store: SqlTraceStore, name: str) -> None:
    with pytest.raises(StoreError):
        store.create_experiment(name)


def test_missing_experiment(store: SqlTraceStore) -> None:
    for missing in ("12345", "abc", "-1", ""):
        with pytest.raises(NotFoundError):
            store.get_experiment(missing)


def test_get_or_create_returns_the_same_experiment(store: SqlTraceStore) -> None:
    first = store.get_or_create_experiment("Default")

    assert store.get_or_create_experiment("Default") == first
    assert len(store.list_experiments()) == 1


def test_get_or_create_recovers_from_losing_the_race(store: SqlTraceStore, monkeypatch: pytest.MonkeyPatch) -> None:
    # Simulate another process creating the experiment between our look-up and our insert.
    winner = store.create_experiment("raced")
    looks = iter([None])
    real_lookup = SqlTraceStore.get_experiment_by_name
    monkeypatch.setattr(
        SqlTraceStore, "get_experiment_by_name", lambda self, name: next(looks, real_lookup(self, name))
    )

    assert store.get_or_create_experiment("raced") == winner


def test_delete_frees_the_name(store: SqlTraceStore) -> None:
    old = store.create_experiment("agent")
    store.delete_experiment(old.experiment_id)

    assert store.get_experiment(old.experiment_id).lifecycle_stage == "deleted"
    assert store.get_experiment(old.experiment_id).name == "agent"
    assert store.get_experiment_by_name("agent") is None
    assert store.list_experiments() == []
    assert [e.experiment_id for e in store.list_experiments(include_deleted=True)] == [old.experiment_id]

    new = store.get_or_create_experiment("agent")
    assert new.experiment_id != old.experiment_id
    assert store.get_experiment_by_name("agent") == new
    # Deleting the second one too: two deleted experiments may share a name.
    store.delete_experiment(new.experiment_id)
    assert len(store.list_experiments(include_deleted=True)) == 2


def test_restore(store: SqlTraceStore) -> None:
    old = store.create_experiment("agent")
    store.delete_experiment(old.experiment_id)
    store.restore_experiment(old.experiment_id)
    assert store.get_experiment_by_name("agent") == store.get_experiment(old.experiment_id)

    store.delete_experiment(old.experiment_id)
    store.create_experiment("agent")
    with pytest.raises(ConflictError):
        store.restore_experiment(old.experiment_id)


def test_delete_missing_experiment(store: SqlTraceStore) -> None:
    with pytest.raises(NotFoundError):
        store.delete_experiment("999")


def test_rename(store: SqlTraceStore) -> None:
    experiment = store.create_experiment("before")
    store.create_experiment("taken")

    renamed = store.rename_experiment(experiment.experiment_id, "after")

    assert renamed.name == "after"
    assert store.get_experiment_by_name("before") is None
    with pytest.raises(ConflictError):
        store.rename_experiment(experiment.experiment_id, "taken")
    assert store.get_experiment(experiment.experiment_id).name == "after"
    store.delete_experiment(experiment.experiment_id)
    with pytest.raises(NotFoundError):
        store.rename_experiment(experiment.experiment_id, "again")


def test_set_artifact_location_applies_to_new_traces_only(store: SqlTraceStore, artifact_root: Path) -> None:
    experiment = store.create_experiment("agent")
    store.write_batches(experiment.experiment_id, [simple_trace(1)])

    moved = store.set_artifact_location(experiment.experiment_id, str(artifact_root / "moved"))
    store.write_batches(experiment.experiment_id, [simple_trace(2)])

    assert moved.artifact_location == str(artifact_root / "moved")
    assert len(pack_names(artifact_root / "moved")) == 1  # trace 2's
    assert len(pack_names(artifact_root / experiment.experiment_id)) == 1  # trace 1's, where it was
    assert len(store.get_spans(trace_id(1))) == 3
    assert len(store.get_spans(trace_id(2))) == 3
    with pytest.raises(StoreError):
        store.set_artifact_location(experiment.experiment_id, "s3://bucket/x")
