"""Model registry rows: registered models, versions, tags and aliases. Each function runs on a caller's connection.

Versions are numbered per model, 1, 2, …: the next number is `max + 1`, read under a row lock on
the model (PostgreSQL) or the database write lock (SQLite), so two processes logging the same model
at once get different numbers.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import Connection, delete, func, select, update

from tracelake.exceptions import InvalidArgumentError, NotFoundError
from tracelake.model import ModelVersion, RegisteredModel, check_alias, check_model_name, check_version
from tracelake.store.sql.dialect import upsert
from tracelake.store.sql.rows import KEY_MAX
from tracelake.store.sql.schema import (
    model_version_tags,
    model_versions,
    registered_model_aliases,
    registered_model_tags,
    registered_models,
)


def valid_name(name: object) -> str:
    """Return `name` if it is a valid registered model name; else raise `InvalidArgumentError`."""
    try:
        return check_model_name(name)
    except ValueError as exc:
        raise InvalidArgumentError(str(exc)) from None


def valid_alias(alias: object) -> str:
    """Return `alias` if it can name a version; else raise `InvalidArgumentError`."""
    try:
        return check_alias(alias)
    except ValueError as exc:
        raise InvalidArgumentError(str(exc)) from None


def valid_version(version: object) -> int:
    """Return `version` as a version number; else raise `InvalidArgumentError`."""
    try:
        return check_version(version)
    except ValueError as exc:
        raise InvalidArgumentError(str(exc)) from None


def check_tags(tags: Mapping[str, str] | None) -> dict[str, str]:
    """Return the tags as a dict of strings; raise `InvalidArgumentError` for a bad key or value."""
    checked: dict[str, str] = {}
    for key, value in (tags or {}).items():
        if not isinstance(key, str) or not key.strip() or len(key) > KEY_MAX:
            raise InvalidArgumentError(f"a tag key must be a string of 1 to {KEY_MAX} characters, not {key!r}")
        if "\x00" in key or "\x00" in str(value):
            raise InvalidArgumentError(f"tag {key!r}: NUL characters are not allowed")
        checked[key] = str(value)
    return checked


# Registered models ---------------------------------------------------------------------------------


def insert_model(
    connection: Connection, name: str, description: str | None, tags: Mapping[str, str], now_ms: int
) -> None:
    """Insert a registered model; a taken name surfaces as an IntegrityError (mapped to ConflictError)."""
    connection.execute(
        registered_models.insert().values(
            name=name, description=description, creation_time=now_ms, last_update_time=now_ms
        )
    )
    if tags:
        connection.execute(
            registered_model_tags.insert(), [{"name": name, "key": key, "value": value} for key, value in tags.items()]
        )


def model_exists(connection: Connection, name: str, *, for_update: bool = False) -> bool:
    """Return whether the model exists; with `for_update`, lock its row until the transaction ends."""
    query = select(registered_models.c.name).where(registered_models.c.name == name)
    if for_update and connection.dialect.name == "postgresql":
        query = query.with_for_update()
    return connection.execute(query).first() is not None


def touch_model(connection: Connection, name: str, now_ms: int) -> None:
    """Bump the model's last update time; raise `NotFoundError` if it does not exist."""
    result = connection.execute(
        update(registered_models).where(registered_models.c.name == name).values(last_update_time=now_ms)
    )
    if result.rowcount == 0:
        raise NotFoundError(f"no registered model named {name!r}")


def _aliases_by_model(connection: Connection, names: Sequence[str]) -> dict[str, dict[str, int]]:
    aliases: dict[str, dict[str, int]] = {name: {} for name in names}
    if names:
        query = (
            select(registered_model_aliases)
            .where(registered_model_aliases.c.name.in_(names))
            .order_by(registered_model_aliases.c.alias)
        )
        for row in connection.execute(query).mappings():
            aliases[row["name"]][row["alias"]] = int(row["version"])
    return aliases


def _model_tags(connection: Connection, names: Sequence[str]) -> dict[str, dict[str, str]]:
    tags: dict[str, dict[str, str]] = {name: {} for name in names}
    if names:
        query = select(registered_model_tags).where(registered_model_tags.c.name.in_(names))
        for row in connection.execute(query).mappings():
            tags[row["name"]][row["key"]] = row["value"]
    return tags


def _latest_versions(connection: Connection, names: Sequence[str]) -> dict[str, int]:
    if not names:
        return {}
    query = (
        select(model_versions.c.name, func.max(model_versions.c.version))
        .where(model_versions.c.name.in_(names))
        .group_by(model_versions.c.name)
    )
    return {row[0]: int(row[1]) for row in connection.execute(query)}


def _build_models(connection: Connection, rows: Sequence[Mapping[Any, Any]]) -> list[RegisteredModel]:
    names = [row["name"] for row in rows]
    tags, aliases = _model_tags(connection, names), _aliases_by_model(connection, names)
    latest = _latest_versions(connection, names)
    return [
        RegisteredModel(
            name=row["name"],
            creation_time=int(row["creation_time"]),
            last_update_time=int(row["last_update_time"]),
            description=row["description"],
            tags=tags[row["name"]],
            aliases=aliases[row["name"]],
            latest_version=latest.get(row["name"]),
        )
        for row in rows
    ]


def load_model(connection: Connection, name: str) -> RegisteredModel:
    """Return the registered model; raise `NotFoundError` if there is none."""
    row = connection.execute(select(registered_models).where(registered_models.c.name == name)).mappings().first()
    if row is None:
        raise NotFoundError(f"no registered model named {name!r}")
    return _build_models(connection, [row])[0]


def list_models(connection: Connection) -> list[RegisteredModel]:
    """Return every registered model, by name."""
    rows = list(connection.execute(select(registered_models).order_by(registered_models.c.name)).mappings())
    return _build_models(connection, rows)


def delete_model(connection: Connection, name: str) -> list[str]:
    """Delete a model with its versions, tags and aliases; return its versions' artifact URIs.

    Raises:
        NotFoundError: there is no such model.
    """
    uris = [
        str(row[0])
        for row in connection.execute(select(model_versions.c.artifact_uri).where(model_versions.c.name == name))
    ]
    # Children first: SQLite enforces foreign keys only when told to, so cascades are not relied on.
    connection.execute(delete(registered_model_aliases).where(registered_model_aliases.c.name == name))
    connection.execute(delete(model_version_tags).where(model_version_tags.c.name == name))
    connection.execute(delete(model_versions).where(model_versions.c.name == name))
    connection.execute(delete(registered_model_tags).where(registered_model_tags.c.name == name))
    result = connection.execute(delete(registered_models).where(registered_models.c.name == name))
    if result.rowcount == 0:
        raise NotFoundError(f"no registered model named {name!r}")
    return uris


# Versions ------------------------------------------------------------------------------------------


def next_version(connection: Connection, name: str) -> int:
    """Return the number the model's next version gets (1 for the first)."""
    current = connection.execute(select(func.max(model_versions.c.version)).where(model_versions.c.name == name))
    value = current.scalar()
    return 1 if value is None else int(value) + 1


def insert_version(connection: Connection, version: ModelVersion) -> None:
    """Insert a version row and its tags."""
    connection.execute(
        model_versions.insert().values(
            name=version.name,
            version=version.version,
            source=version.source,
            artifact_uri=version.artifact_uri,
            status=version.status,
            status_message=version.status_message,
            description=version.description,
            creation_time=version.creation_time,
            last_update_time=version.last_update_time,
        )
    )
    if version.tags:
        connection.execute(
            model_version_tags.insert(),
            [
                {"name": version.name, "version": version.version, "key": key, "value": value}
                for key, value in version.tags.items()
            ],
        )


def _build_versions(connection: Connection, rows: Sequence[Mapping[Any, Any]]) -> list[ModelVersion]:
    if not rows:
        return []
    name = rows[0]["name"]
    numbers = [int(row["version"]) for row in rows]
    tags: dict[int, dict[str, str]] = {number: {} for number in numbers}
    query = select(model_version_tags).where(
        model_version_tags.c.name == name, model_version_tags.c.version.in_(numbers)
    )
    for row in connection.execute(query).mappings():
        tags[int(row["version"])][row["key"]] = row["value"]
    aliases: dict[int, list[str]] = {number: [] for number in numbers}
    for alias, number in _aliases_by_model(connection, [name])[name].items():
        if number in aliases:
            aliases[number].append(alias)
    return [
        ModelVersion(
            name=row["name"],
            version=int(row["version"]),
            artifact_uri=row["artifact_uri"],
            status=row["status"],
            creation_time=int(row["creation_time"]),
            last_update_time=int(row["last_update_time"]),
            source=row["source"],
            description=row["description"],
            status_message=row["status_message"],
            tags=tags[int(row["version"])],
            aliases=tuple(aliases[int(row["version"])]),
        )
        for row in rows
    ]


def load_version(connection: Connection, name: str, version: int) -> ModelVersion:
    """Return one version; raise `NotFoundError` naming what is missing (the model or the version)."""
    query = select(model_versions).where(model_versions.c.name == name, model_versions.c.version == version)
    row = connection.execute(query).mappings().first()
    if row is None:
        if not model_exists(connection, name):
            raise NotFoundError(f"no registered model named {name!r}")
        raise NotFoundError(f"registered model {name!r} has no version {version}")
    return _build_versions(connection, [row])[0]


def list_versions(connection: Connection, name: str) -> list[ModelVersion]:
    """Return the model's versions, newest first; raise `NotFoundError` if the model does not exist."""
    if not model_exists(connection, name):
        raise NotFoundError(f"no registered model named {name!r}")
    query = select(model_versions).where(model_versions.c.name == name).order_by(model_versions.c.version.desc())
    return _build_versions(connection, list(connection.execute(query).mappings()))


def latest_version(connection: Connection, name: str) -> int:
    """Return the newest version's number; raise `NotFoundError` if the model has none."""
    latest = _latest_versions(connection, [name]).get(name)
    if latest is None:
        if not model_exists(connection, name):
            raise NotFoundError(f"no registered model named {name!r}")
        raise NotFoundError(f"registered model {name!r} has no versions yet")
    return latest


# Aliases -------------------------------------------------------------------------------------------


def set_alias(connection: Connection, name: str, alias: str, version: int) -> None:
    """Point `alias` at a version (moving it if it pointed elsewhere); the version must exist."""
    load_version(connection, name, version)
    row = {"name": name, "alias": alias, "version": version}
    upsert(connection, registered_model_aliases, [row], ("name", "alias"), ("version",))


def delete_alias(connection: Connection, name: str, alias: str) -> None:
    """Remove an alias; raise `NotFoundError` if the model has no such alias."""
    result = connection.execute(
        delete(registered_model_aliases).where(
            registered_model_aliases.c.name == name, registered_model_aliases.c.alias == alias
        )
    )
    if result.rowcount == 0:
        if not model_exists(connection, name):
            raise NotFoundError(f"no registered model named {name!r}")
        raise NotFoundError(f"registered model {name!r} has no alias {alias!r}")


def version_of_alias(connection: Connection, name: str, alias: str) -> int:
    """Return the version an alias points at; raise `NotFoundError` for a missing model or alias."""
    query = select(registered_model_aliases.c.version).where(
        registered_model_aliases.c.name == name, registered_model_aliases.c.alias == alias
    )
    value = connection.execute(query).scalar()
    if value is None:
        if not model_exists(connection, name):
            raise NotFoundError(f"no registered model named {name!r}")
        raise NotFoundError(f"registered model {name!r} has no alias {alias!r}")
    return int(value)
