"""`/api/v1/registered-models`: the model registry (registered agents, their versions, aliases, packages).

A version is created by uploading the package `tracelake.agents.log_agent` built and validated (the
server checks that it is a well-formed agent package; it never runs the agent's code). Handlers are
plain `def`: FastAPI runs them on its thread pool, so store calls never block the event loop.
"""

from __future__ import annotations

import base64
import binascii
from typing import Annotated

from fastapi import APIRouter, Path
from pydantic import BaseModel, ConfigDict, Field
from starlette.responses import Response

from tracelake.agents.packaging import AgentPackageError, read_manifest
from tracelake.exceptions import InvalidArgumentError
from tracelake.model import ModelRef
from tracelake.model._registry import ALIAS_MAX, MODEL_NAME_MAX
from tracelake.server.deps import StoreDep
from tracelake.server.responses import JsonResponse
from tracelake.store.sql.rows import KEY_MAX

__all__ = ["router"]

router = APIRouter(prefix="/api/v1/registered-models", tags=["Model registry"])

ModelName = Annotated[str, Path(description="catalog.schema.name", min_length=1, max_length=MODEL_NAME_MAX)]
Version = Annotated[int, Path(description="a version number (1, 2, …)", ge=1)]
Alias = Annotated[str, Path(description="an alias such as champion", min_length=1, max_length=ALIAS_MAX)]
Tags = dict[Annotated[str, Field(min_length=1, max_length=KEY_MAX)], str]


class CreateModel(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=MODEL_NAME_MAX)
    description: str | None = None
    tags: Tags | None = None


class CreateVersion(BaseModel):
    model_config = ConfigDict(extra="forbid")

    package: str = Field(min_length=1, description="the package archive (.tar.gz), base64-encoded")
    source: str | None = None
    description: str | None = None
    tags: Tags | None = None


class SetAlias(BaseModel):
    model_config = ConfigDict(extra="forbid")

    version: int = Field(ge=1)


@router.post("", status_code=201, summary="Create a registered model")
def create_model(body: CreateModel, store: StoreDep) -> Response:
    """Create a model named `catalog.schema.name`; 409 if it exists (logging a version creates it too)."""
    model = store.create_registered_model(body.name, body.description, body.tags)
    return JsonResponse({"registered_model": model.to_dict()}, status_code=201)


@router.get("", summary="List registered models")
def list_models(store: StoreDep) -> Response:
    """List every registered model, by name, with its aliases and latest version."""
    return JsonResponse({"registered_models": [model.to_dict() for model in store.list_registered_models()]})


@router.get("/{name}", summary="Get a registered model")
def get_model(name: ModelName, store: StoreDep) -> Response:
    """Return the model with its aliases and latest version."""
    return JsonResponse({"registered_model": store.get_registered_model(name).to_dict()})


@router.delete("/{name}", status_code=204, summary="Delete a registered model")
def delete_model(name: ModelName, store: StoreDep) -> Response:
    """Delete the model with all its versions, aliases and packages."""
    store.delete_registered_model(name)
    return Response(status_code=204)


@router.post("/{name}/versions", status_code=201, summary="Create a model version")
def create_version(name: ModelName, body: CreateVersion, store: StoreDep) -> Response:
    """Store an uploaded agent package as the model's next version (the model is created if missing)."""
    try:
        package = base64.b64decode(body.package, validate=True)
    except (binascii.Error, ValueError):
        raise InvalidArgumentError("body field 'package' is not valid base64") from None
    try:
        read_manifest(package)
    except AgentPackageError as exc:
        raise InvalidArgumentError(f"body field 'package': {exc}") from None
    version = store.create_model_version(name, package, body.source, body.description, body.tags)
    return JsonResponse({"model_version": version.to_dict()}, status_code=201)


@router.get("/{name}/versions", summary="List model versions")
def list_versions(name: ModelName, store: StoreDep) -> Response:
    """List the model's versions, newest first."""
    return JsonResponse({"model_versions": [version.to_dict() for version in store.list_model_versions(name)]})


@router.get("/{name}/versions/{version}", summary="Get a model version")
def get_version(name: ModelName, version: Version, store: StoreDep) -> Response:
    """Return one version."""
    return JsonResponse({"model_version": store.get_model_version(name, version).to_dict()})


@router.get(
    "/{name}/versions/{version}/package",
    summary="Download a model version's package",
    response_class=Response,
    responses={200: {"content": {"application/gzip": {}}}},
)
def get_package(name: ModelName, version: Version, store: StoreDep) -> Response:
    """Return the version's package archive (`.tar.gz`: agent.json, requirements.txt, code/)."""
    package = store.get_model_version_package(name, version)
    filename = f"{name}-{version}.tar.gz"
    return Response(
        package, media_type="application/gzip", headers={"Content-Disposition": f'attachment; filename="{filename}"'}
    )


@router.get("/{name}/aliases/{alias}", summary="Resolve an alias")
def get_alias(name: ModelName, alias: Alias, store: StoreDep) -> Response:
    """Return the version an alias points at (`latest` is the newest version)."""
    return JsonResponse({"model_version": store.resolve_model_version(ModelRef(name, alias=alias)).to_dict()})


@router.put("/{name}/aliases/{alias}", summary="Set an alias")
def set_alias(name: ModelName, alias: Alias, body: SetAlias, store: StoreDep) -> Response:
    """Point the alias at a version (moving it from another version if needed)."""
    return JsonResponse({"model_version": store.set_model_alias(name, alias, body.version).to_dict()})


@router.delete("/{name}/aliases/{alias}", status_code=204, summary="Delete an alias")
def delete_alias(name: ModelName, alias: Alias, store: StoreDep) -> Response:
    """Remove the alias (the version stays)."""
    store.delete_model_alias(name, alias)
    return Response(status_code=204)
