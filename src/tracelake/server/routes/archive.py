"""`/api/v1/experiments/{experiment_id}/archive` and `/api/v1/archives`: Delta archive settings and status.

The settings live in the tracking database (`archive_settings`); `tracelake monitor` reads them and
syncs on schedule. Reading needs CAN_READ on the experiment, changing CAN_MANAGE (server/auth/policy.py);
changes are audited. See docs/archive.md.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path
from pydantic import BaseModel, ConfigDict, Field
from starlette.requests import Request
from starlette.responses import Response

from tracelake.exceptions import NotFoundError
from tracelake.monitoring.archive import settings as st
from tracelake.server.auth.audit import record
from tracelake.server.deps import StoreDep
from tracelake.server.responses import JsonResponse
from tracelake.server.routes.archive_location import check_archive_location
from tracelake.store import SqlTraceStore

__all__ = ["router"]

router = APIRouter(tags=["Monitoring"])

ExperimentId = Annotated[str, Path(description="a decimal experiment id", pattern=r"^[0-9]{1,18}$")]
_WEEK_S = 7 * 86_400


class ArchiveSettingsBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    location: str = Field(min_length=1, max_length=1000, description="a folder or s3://bucket/prefix")
    interval_seconds: int = Field(default=st.DEFAULT_INTERVAL_SECONDS, ge=st.MIN_INTERVAL_SECONDS, le=_WEEK_S)
    enabled: bool = True


def _view(store: SqlTraceStore, status: st.ArchiveStatus, names: dict[str, str] | None = None) -> dict[str, Any]:
    experiment_id = status.settings.experiment_id
    name = names.get(experiment_id) if names is not None else store.get_experiment(experiment_id).name
    return {**status.to_dict(), "experiment_name": name}


@router.get("/api/v1/experiments/{experiment_id}/archive", summary="Get an experiment's archive settings and status")
def get_archive(experiment_id: ExperimentId, store: StoreDep) -> Response:
    """Return the settings, lag, last sync, rows written and last error; `{"archive": null}` if never set."""
    store.get_experiment(experiment_id)  # 404 for an unknown experiment
    status = st.get_status(store.engine, experiment_id)
    return JsonResponse({"archive": None if status is None else _view(store, status)})


@router.put("/api/v1/experiments/{experiment_id}/archive", summary="Set an experiment's archive settings")
def put_archive(experiment_id: ExperimentId, body: ArchiveSettingsBody, store: StoreDep, request: Request) -> Response:
    """Archive the experiment to `location` every `interval_seconds` (or keep the settings, off)."""
    experiment = store.get_experiment(experiment_id)
    if experiment.lifecycle_stage != "active":
        raise NotFoundError(f"experiment {experiment_id} is deleted")
    location = check_archive_location(body.location, store, experiment_id)
    st.configure(store.engine, experiment_id, location, body.interval_seconds, enabled=body.enabled)
    detail = {"location": location, "interval_seconds": body.interval_seconds, "enabled": body.enabled}
    record(request, "archive.update", "experiment", experiment_id, detail)
    status = st.get_status(store.engine, experiment_id)
    assert status is not None
    return JsonResponse({"archive": _view(store, status)})


@router.delete("/api/v1/experiments/{experiment_id}/archive", status_code=204, summary="Stop archiving an experiment")
def delete_archive(experiment_id: ExperimentId, store: StoreDep, request: Request) -> Response:
    """Turn archiving off; the tables, settings and sync state stay (PUT turns it on again). 404 if never set."""
    store.get_experiment(experiment_id)
    st.disable(store.engine, experiment_id)
    record(request, "archive.disable", "experiment", experiment_id)
    return Response(status_code=204)


@router.get("/api/v1/archives", summary="List the archive status of every archived experiment")
def list_archives(store: StoreDep) -> Response:
    """Return the settings and status of every experiment with archive settings (that the caller can read)."""
    names = {e.experiment_id: e.name for e in store.list_experiments(include_deleted=True)}
    return JsonResponse({"archives": [_view(store, status, names) for status in st.list_status(store.engine)]})
