"""Experiment rows: create, look up, list, update. Each function runs on a caller's connection."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import Connection, delete, select, update

from tracelake.exceptions import InvalidArgumentError, NotFoundError, StoreError
from tracelake.model import Experiment
from tracelake.store.artifacts import check_artifact_location, join_uri
from tracelake.store.sql.dialect import upsert
from tracelake.store.sql.rows import KEY_MAX, NAME_MAX, experiment_from_row
from tracelake.store.sql.schema import experiment_tags, experiments

ACTIVE = "active"
DELETED = "deleted"


def parse_experiment_id(experiment_id: str | int) -> int:
    """Return the integer id behind an experiment id string; raise `NotFoundError` if it is none."""
    try:
        value = int(experiment_id)
    except (TypeError, ValueError):
        raise NotFoundError(f"no experiment with id {experiment_id!r}") from None
    if value < 0 or str(value) != str(experiment_id).strip():
        raise NotFoundError(f"no experiment with id {experiment_id!r}")
    return value


def check_name(name: str) -> str:
    """Return `name` if it can name an experiment, else raise `StoreError`."""
    if not isinstance(name, str) or not name.strip():
        raise InvalidArgumentError("an experiment name must be a non-empty string")
    if len(name) > NAME_MAX:
        raise InvalidArgumentError(f"an experiment name may have at most {NAME_MAX} characters")
    return name


def insert_experiment(
    connection: Connection,
    name: str,
    artifact_location: str | None,
    default_artifact_root: str,
    tags: Mapping[str, str] | None,
    now_ms: int,
) -> int:
    """Insert an experiment and its tags; return its id.

    The default artifact location `<root>/<id>` needs the id, so it is set right after the insert,
    in the same transaction. A taken name surfaces as an IntegrityError (mapped to ConflictError).
    """
    location = None if artifact_location is None else check_artifact_location(artifact_location)
    result = connection.execute(
        experiments.insert().values(
            name=check_name(name),
            artifact_location=location or "",
            lifecycle_stage=ACTIVE,
            creation_time=now_ms,
            last_update_time=now_ms,
        )
    )
    primary_key = result.inserted_primary_key
    if primary_key is None:  # pragma: no cover - both dialects report generated keys
        raise StoreError("the database did not report the new experiment's id")
    experiment_id = int(primary_key[0])
    if location is None:
        connection.execute(
            update(experiments)
            .where(experiments.c.experiment_id == experiment_id)
            .values(artifact_location=join_uri(default_artifact_root, str(experiment_id)))
        )
    if tags:
        connection.execute(
            experiment_tags.insert(),
            [{"experiment_id": experiment_id, "key": key, "value": value} for key, value in tags.items()],
        )
    return experiment_id


def _tags_of(connection: Connection, ids: list[int]) -> dict[int, dict[str, str]]:
    tags: dict[int, dict[str, str]] = {experiment_id: {} for experiment_id in ids}
    if ids:
        query = select(experiment_tags).where(experiment_tags.c.experiment_id.in_(ids))
        for row in connection.execute(query).mappings():
            tags[row["experiment_id"]][row["key"]] = row["value"]
    return tags


def _build(connection: Connection, rows: list[Mapping[Any, Any]]) -> list[Experiment]:
    tags = _tags_of(connection, [row["experiment_id"] for row in rows])
    return [experiment_from_row(row, tags[row["experiment_id"]]) for row in rows]


def load_experiment(connection: Connection, experiment_id: int) -> Experiment:
    """Return the experiment (active or deleted); raise `NotFoundError` if there is none."""
    row = connection.execute(select(experiments).where(experiments.c.experiment_id == experiment_id)).mappings().first()
    if row is None:
        raise NotFoundError(f"no experiment with id '{experiment_id}'")
    return _build(connection, [row])[0]


def find_active_by_name(connection: Connection, name: str) -> Experiment | None:
    """Return the active experiment called `name`, if any."""
    query = select(experiments).where(experiments.c.name == name, experiments.c.lifecycle_stage == ACTIVE)
    row = connection.execute(query).mappings().first()
    return None if row is None else _build(connection, [row])[0]


def list_experiments(connection: Connection, include_deleted: bool) -> list[Experiment]:
    """Return experiments ordered by id, deleted ones only if asked for."""
    query = select(experiments).order_by(experiments.c.experiment_id)
    if not include_deleted:
        query = query.where(experiments.c.lifecycle_stage == ACTIVE)
    return _build(connection, list(connection.execute(query).mappings()))


def update_experiment(connection: Connection, experiment_id: int, now_ms: int, **values: Any) -> None:
    """Set columns of an experiment (and its last update time); raise `NotFoundError` if missing."""
    result = connection.execute(
        update(experiments)
        .where(experiments.c.experiment_id == experiment_id)
        .values(last_update_time=now_ms, **values)
    )
    if result.rowcount == 0:
        raise NotFoundError(f"no experiment with id '{experiment_id}'")


def set_tag(connection: Connection, experiment_id: int, key: str, value: str, now_ms: int) -> None:
    """Set one tag of an experiment (overwriting it) and bump its last update time."""
    if not isinstance(key, str) or not key.strip() or len(key) > KEY_MAX:
        raise InvalidArgumentError(f"an experiment tag key must be a string of 1 to {KEY_MAX} characters, not {key!r}")
    if "\x00" in key or "\x00" in str(value):
        raise InvalidArgumentError(f"experiment tag {key!r}: NUL characters are not allowed")
    update_experiment(connection, experiment_id, now_ms)
    row = {"experiment_id": experiment_id, "key": key, "value": str(value)}
    upsert(connection, experiment_tags, [row], ("experiment_id", "key"), ("value",))


def delete_tag(connection: Connection, experiment_id: int, key: str, now_ms: int) -> None:
    """Delete one tag of an experiment; raise `NotFoundError` if it has no such tag."""
    update_experiment(connection, experiment_id, now_ms)
    result = connection.execute(
        delete(experiment_tags).where(experiment_tags.c.experiment_id == experiment_id, experiment_tags.c.key == key)
    )
    if result.rowcount == 0:
        raise NotFoundError(f"experiment '{experiment_id}' has no tag {key!r}")


def require_active(connection: Connection, experiment_id: int, *, with_tags: bool = True) -> Experiment:
    """Return the experiment if it exists and is active; raise `NotFoundError` otherwise.

    `with_tags=False` leaves the tags out (one query fewer): the write path needs only the
    experiment's location and stage, on every write.
    """
    if with_tags:
        experiment = load_experiment(connection, experiment_id)
    else:
        query = select(experiments).where(experiments.c.experiment_id == experiment_id)
        row = connection.execute(query).mappings().first()
        if row is None:
            raise NotFoundError(f"no experiment with id '{experiment_id}'")
        experiment = experiment_from_row(row)
    if experiment.lifecycle_stage != ACTIVE:
        raise NotFoundError(f"experiment '{experiment_id}' is deleted")
    return experiment
