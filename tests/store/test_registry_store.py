"""The model registry in the SQL store: models, numbered versions with packages, aliases (SQLite and PostgreSQL)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from tracelake.exceptions import ConflictError, InvalidArgumentError, NotFoundError
from tracelake.model import ModelRef, parse_model_uri
from tracelake.store import ModelRegistryStore, SqlTraceStore

NAME = "main.support.agent"
_REGISTRY_TABLES = (
    "registered_model_aliases, model_version_tags, model_versions, registered_model_tags, registered_models"
)


@pytest.fixture
def registry(database_url: str, artifact_root: Path) -> Iterator[SqlTraceStore]:
    with SqlTraceStore(database_url, str(artifact_root)) as opened:
        if opened.dialect_name == "postgresql":  # the session database is shared: start empty
            with opened.engine.begin() as connection:
                connection.execute(sa.text(f"TRUNCATE {_REGISTRY_TABLES} CASCADE"))
        yield opened


def test_the_store_is_a_model_registry(registry: SqlTraceStore) -> None:
    assert isinstance(registry, ModelRegistryStore)


def test_versions_are_numbered_from_one_and_keep_their_packages(registry: SqlTraceStore) -> None:
    first = registry.create_model_version(NAME, b"package one", source="/src/agent.py", tags={"team": "care"})
    second = registry.create_model_version(NAME, b"package two", description="better prompt")

    assert (first.version, second.version) == (1, 2)
    assert first.uri == f"models:/{NAME}/1"
    assert first.status == "READY"
    assert first.tags == {"team": "care"}
    assert registry.get_model_version(NAME, 2).description == "better prompt"
    assert registry.get_model_version_package(NAME, 1) == b"package one"
    assert registry.get_model_version_package(NAME, "2") == b"package two"
    assert [v.version for v in registry.list_model_versions(NAME)] == [2, 1]
    model = registry.get_registered_model(NAME)
    assert model.latest_version == 2
    assert [m.name for m in registry.list_registered_models()] == [NAME]


def test_aliases_point_at_one_version_and_move(registry: SqlTraceStore) -> None:
    for _ in range(3):
        registry.create_model_version(NAME, b"p")
    assert registry.set_model_alias(NAME, "champion", 1).aliases == ("champion",)
    registry.set_model_alias(NAME, "challenger", 3)
    registry.set_model_alias(NAME, "champion", 2)  # moves

    assert registry.get_registered_model(NAME).aliases == {"challenger": 3, "champion": 2}
    assert registry.resolve_model_version(ModelRef(NAME, alias="champion")).version == 2
    assert registry.resolve_model_version(parse_model_uri(f"{NAME}@latest")).version == 3
    assert registry.resolve_model_version(parse_model_uri(f"models:/{NAME}/1")).version == 1
    assert registry.get_model_version(NAME, 1).aliases == ()

    registry.delete_model_alias(NAME, "champion")
    with pytest.raises(NotFoundError, match="no alias 'champion'"):
        registry.resolve_model_version(ModelRef(NAME, alias="champion"))


def test_missing_things_are_named_in_the_error(registry: SqlTraceStore) -> None:
    with pytest.raises(NotFoundError, match=r"no registered model named 'main\.support\.agent'"):
        registry.get_model_version(NAME, 1)
    registry.create_model_version(NAME, b"p")
    with pytest.raises(NotFoundError, match="has no version 7"):
        registry.get_model_version(NAME, 7)
    with pytest.raises(NotFoundError, match="has no version 7"):
        registry.set_model_alias(NAME, "champion", 7)
    with pytest.raises(NotFoundError, match="no alias 'prod'"):
        registry.delete_model_alias(NAME, "prod")
    with pytest.raises(NotFoundError):
        registry.list_model_versions("main.other.agent")


@pytest.mark.parametrize(
    "name", ["support", "main.support", "a.b.c.d", "main..agent", "main.support.agent!", "1main.s.a", ""]
)
def test_names_must_be_three_identifiers(registry: SqlTraceStore, name: str) -> None:
    with pytest.raises(InvalidArgumentError, match=r"catalog\.schema\.name"):
        registry.create_model_version(name, b"p")
    assert registry.list_registered_models() == []


@pytest.mark.parametrize("alias", ["latest", "7", "has space", ""])
def test_bad_aliases_are_refused(registry: SqlTraceStore, alias: str) -> None:
    registry.create_model_version(NAME, b"p")
    with pytest.raises(InvalidArgumentError):
        registry.set_model_alias(NAME, alias, 1)


def test_creating_a_model_twice_is_a_conflict(registry: SqlTraceStore) -> None:
    created = registry.create_registered_model(NAME, description="support bot", tags={"owner": "care"})
    assert (created.description, created.tags, created.latest_version) == ("support bot", {"owner": "care"}, None)
    with pytest.raises(ConflictError):
        registry.create_registered_model(NAME)
    assert registry.create_model_version(NAME, b"p").version == 1  # into the existing model


def test_deleting_a_model_deletes_versions_aliases_and_packages(registry: SqlTraceStore, artifact_root: Path) -> None:
    version = registry.create_model_version(NAME, b"p")
    registry.set_model_alias(NAME, "champion", 1)
    package_folder = Path(version.artifact_uri)
    assert package_folder.is_dir() and package_folder.is_relative_to(artifact_root)

    registry.delete_registered_model(NAME)

    assert registry.list_registered_models() == []
    assert not package_folder.exists()
    assert registry.create_model_version(NAME, b"again").version == 1


def test_an_empty_package_is_refused_and_nothing_is_registered(registry: SqlTraceStore) -> None:
    with pytest.raises(InvalidArgumentError, match="package"):
        registry.create_model_version(NAME, b"")
    assert registry.list_registered_models() == []


def test_concurrent_loggers_get_distinct_versions(registry: SqlTraceStore) -> None:
    versions: list[int] = []
    errors: list[BaseException] = []

    def log(index: int) -> None:
        try:
            versions.append(registry.create_model_version(NAME, f"package {index}".encode()).version)
        except BaseException as exc:  # collected for the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=log, args=(index,)) for index in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)

    assert errors == []
    assert sorted(versions) == list(range(1, 9))
    packages = {registry.get_model_version_package(NAME, number) for number in versions}
    assert packages == {f"package {index}".encode() for index in range(8)}
