"""Experiments may keep payloads only inside the store's allowed artifact roots."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tracelake.exceptions import StoreError
from tracelake.store import SqlTraceStore
from tracelake.store.artifacts import ArtifactRoots


@pytest.fixture
def roots(tmp_path: Path) -> ArtifactRoots:
    return ArtifactRoots([str(tmp_path / "artifacts"), "s3://team-bucket/tracelake/"])


def test_locations_inside_a_root_are_allowed(roots: ArtifactRoots, tmp_path: Path) -> None:
    root = tmp_path / "artifacts"

    assert roots.roots == (str(root), "s3://team-bucket/tracelake")
    assert roots.check(str(root)) == str(root)
    assert roots.check(str(root / "a" / "b")) == str(root / "a" / "b")
    assert roots.check((root / "uri").as_uri()) == (root / "uri").as_uri()
    assert roots.check("s3://team-bucket/tracelake/") == "s3://team-bucket/tracelake"
    assert roots.check("s3://team-bucket/tracelake/agents/x") == "s3://team-bucket/tracelake/agents/x"


@pytest.mark.parametrize(
    "location",
    [
        "/etc",
        "{tmp}",
        "{tmp}/artifacts-evil",
        "{tmp}/artifacts/../../etc",
        "{tmp}/artifacts/a/../../outside",
        "file:///etc/x",
        "s3://team-bucket",
        "s3://team-bucket/tracelake-other",
        "s3://team-bucket/other/tracelake",
        "s3://other-bucket/tracelake",
        "s3://team-bucket/tracelake/../../x",
    ],
)
def test_locations_outside_every_root_are_refused(roots: ArtifactRoots, tmp_path: Path, location: str) -> None:
    location = location.format(tmp=tmp_path)

    with pytest.raises(StoreError, match="artifact location") as caught:
        roots.check(location)
    message = str(caught.value)
    assert location in message
    assert "outside the allowed artifact roots" in message or "'..'" in message


def test_refusals_name_the_allowed_roots(roots: ArtifactRoots, tmp_path: Path) -> None:
    with pytest.raises(StoreError) as caught:
        roots.check("/srv/elsewhere")

    assert str(caught.value) == (
        f"artifact location '/srv/elsewhere' is outside the allowed artifact roots"
        f" ({tmp_path / 'artifacts'}, s3://team-bucket/tracelake)"
    )


def test_symlinks_are_followed(roots: ArtifactRoots, tmp_path: Path) -> None:
    root = tmp_path / "artifacts"
    (root / "inside").mkdir(parents=True)
    (tmp_path / "outside").mkdir()
    (root / "escape").symlink_to(tmp_path / "outside", target_is_directory=True)
    (root / "alias").symlink_to(root / "inside", target_is_directory=True)

    with pytest.raises(StoreError, match="outside the allowed artifact roots"):
        roots.check(str(root / "escape"))
    with pytest.raises(StoreError, match="outside the allowed artifact roots"):
        roots.check(str(root / "escape" / "deeper"))
    assert roots.check(str(root / "alias" / "x")) == str(root / "alias" / "x")


def test_a_root_reached_through_a_symlink(tmp_path: Path) -> None:
    (tmp_path / "real").mkdir()
    (tmp_path / "link").symlink_to(tmp_path / "real", target_is_directory=True)
    roots = ArtifactRoots([str(tmp_path / "link")])

    assert roots.check(str(tmp_path / "real" / "x")) == str(tmp_path / "real" / "x")
    assert roots.check(str(tmp_path / "link" / "y")) == str(tmp_path / "link" / "y")


def test_relative_locations_are_resolved_against_the_working_folder(
    roots: ArtifactRoots, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)

    assert roots.check("artifacts/x") == str(tmp_path / "artifacts" / "x")
    with pytest.raises(StoreError):
        roots.check("elsewhere/x")


@pytest.mark.parametrize("bad", [[], ["gs://bucket/x"], ["/a/../b"], ["s3://Bad_Bucket"]])
def test_invalid_roots(bad: list[str]) -> None:
    with pytest.raises(StoreError):
        ArtifactRoots(bad)


def test_the_store_refuses_locations_outside_its_roots(database_url: str, tmp_path: Path) -> None:
    default_root, extra_root = tmp_path / "artifacts", tmp_path / "big-disk"
    with SqlTraceStore(database_url, str(default_root), allowed_artifact_roots=[str(extra_root)]) as store:
        assert store.allowed_artifact_roots == (str(default_root), str(extra_root))
        for location in (str(tmp_path / "other"), f"{default_root}/../../etc", "s3://some-bucket/x"):
            with pytest.raises(StoreError, match="artifact location"):
                store.create_experiment("refused", artifact_location=location)
        assert store.list_experiments() == []

        experiment = store.create_experiment("agent", artifact_location=str(extra_root / "agent"))
        with pytest.raises(StoreError, match=f"outside the allowed artifact roots \\({default_root}, {extra_root}\\)"):
            store.set_artifact_location(experiment.experiment_id, "/etc/tracelake")
        assert store.get_experiment(experiment.experiment_id).artifact_location == str(extra_root / "agent")
        assert store.set_artifact_location(experiment.experiment_id, str(default_root / "moved")).artifact_location == (
            str(default_root / "moved")
        )


def test_by_default_only_the_default_root_is_allowed(tmp_path: Path) -> None:
    with SqlTraceStore(f"sqlite:///{tmp_path / 'db.sqlite'}", str(tmp_path / "artifacts")) as store:
        assert store.allowed_artifact_roots == (str(tmp_path / "artifacts"),)
        assert store.create_experiment("inside", artifact_location=str(tmp_path / "artifacts" / "x"))
        with pytest.raises(StoreError, match="outside the allowed artifact roots"):
            store.create_experiment("outside", artifact_location=os.fspath(tmp_path / "x"))
