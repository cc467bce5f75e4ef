"""`/api/v1/experiments`: create, list, get (by id or name), rename, relocate, delete.

Handlers are plain `def`: FastAPI runs them on its thread pool, so store calls never block the
event loop.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path
from pydantic import BaseModel, ConfigDict, Field
from starlette.responses import Response

from tracelake.exceptions import NotFoundError
from tracelake.server.deps import StoreDep
from tracelake.server.locations import check_allowed_location
from tracelake.server.responses import JsonResponse
from tracelake.store.sql.rows import KEY_MAX, NAME_MAX

__all__ = ["router"]

router = APIRouter(prefix="/api/v1/experiments", tags=["Experiments"])

ExperimentId = Annotated[str, Path(description="a decimal experiment id", pattern=r"^[0-9]{1,18}$")]
Name = Annotated[str, Field(min_length=1, max_length=NAME_MAX, pattern=r"\S")]


class CreateExperiment(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: Name
    artifact_location: str | None = Field(default=None, min_length=1)
    tags: dict[Annotated[str, Field(min_length=1, max_length=KEY_MAX)], str] | None = None


class UpdateExperiment(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: Name | None = None
    artifact_location: str | None = Field(default=None, min_length=1)


@router.post("", status_code=201, summary="Create an experiment")
def create_experiment(body: CreateExperiment, store: StoreDep) -> Response:
    """Create an experiment; 409 if an active one has the name."""
    location = body.artifact_location
    if location is not None:
        location = check_allowed_location(location, store)
    experiment = store.create_experiment(body.name, location, body.tags)
    return JsonResponse({"experiment": experiment.to_dict()}, status_code=201)


@router.get("", summary="List experiments")
def list_experiments(store: StoreDep, include_deleted: bool = False) -> Response:
    """List the active experiments (and the deleted ones if asked), by id."""
    experiments = store.list_experiments(include_deleted=include_deleted)
    return JsonResponse({"experiments": [experiment.to_dict() for experiment in experiments]})


@router.get("/by-name/{name:path}", summary="Get an experiment by name")
def get_experiment_by_name(name: str, store: StoreDep) -> Response:
    """Return the active experiment with this name; 404 if there is none."""
    experiment = store.get_experiment_by_name(name)
    if experiment is None:
        raise NotFoundError(f"no active experiment named {name!r}")
    return JsonResponse({"experiment": experiment.to_dict()})


@router.get("/{experiment_id}", summary="Get an experiment")
def get_experiment(experiment_id: ExperimentId, store: StoreDep) -> Response:
    """Return the experiment (active or deleted)."""
    return JsonResponse({"experiment": store.get_experiment(experiment_id).to_dict()})


@router.patch("/{experiment_id}", summary="Rename an experiment or change its artifact location")
def update_experiment(experiment_id: ExperimentId, body: UpdateExperiment, store: StoreDep) -> Response:
    """Change the name and/or the artifact location (where *new* traces keep their payloads)."""
    location = body.artifact_location
    if location is not None:
        location = check_allowed_location(location, store)
    experiment = store.get_experiment(experiment_id)
    if body.name is not None and body.name != experiment.name:
        experiment = store.rename_experiment(experiment_id, body.name)
    if location is not None:
        experiment = store.set_artifact_location(experiment_id, location)
    return JsonResponse({"experiment": experiment.to_dict()})


@router.delete("/{experiment_id}", status_code=204, summary="Delete an experiment")
def delete_experiment(experiment_id: ExperimentId, store: StoreDep) -> Response:
    """Mark the experiment deleted; its name becomes free, its traces stay until deleted."""
    store.delete_experiment(experiment_id)
    return Response(status_code=204)
