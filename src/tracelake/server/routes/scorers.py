"""`/api/v1/experiments/{experiment_id}/scorers` and `/api/v1/scorers`: registered scorers and their status.

A REST client registers **built-in LLM judges** by class name with their parameters; code scorers
(`@scorer` functions) are registered from Python with access to the database, because their
definition is code the monitoring worker runs (docs/scorers.md#over-the-rest-api). Every
registration — judge or code — can be listed, started, stopped, re-sampled, re-filtered,
re-budgeted and deleted here. Reading needs CAN_READ on the experiment, changing CAN_MANAGE;
changes are audited.
"""

from __future__ import annotations

import time
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path
from pydantic import BaseModel, ConfigDict, Field, model_validator
from starlette.requests import Request
from starlette.responses import Response

from tracelake.exceptions import NotFoundError
from tracelake.monitoring.scorers import registry
from tracelake.monitoring.scorers.registry import KEEP, ScorerRegistration
from tracelake.monitoring.scorers.runs import scorer_status
from tracelake.server.auth.audit import record
from tracelake.server.deps import StoreDep
from tracelake.server.errors import ApiError
from tracelake.server.responses import JsonResponse
from tracelake.store import SqlTraceStore

__all__ = ["router"]

router = APIRouter(tags=["Monitoring"])

ExperimentId = Annotated[str, Path(description="a decimal experiment id", pattern=r"^[0-9]{1,18}$")]
ScorerName = Annotated[str, Path(description="the scorer's name", max_length=250)]
SampleRate = Annotated[float, Field(ge=0.0, le=1.0, strict=True, description="fraction of matching traces judged")]
Filter = Annotated[str, Field(max_length=4000, description="the search grammar, e.g. metadata.environment = 'prod'")]
MaxCalls = Annotated[int, Field(ge=1, strict=True, description="traces judged in any rolling hour")]
MaxCost = Annotated[float, Field(gt=0.0, allow_inf_nan=False, description="USD of judge calls in any rolling hour")]
_CODE_REFUSED = (
    "code scorers cannot be registered over the REST API (the monitoring worker would run the code sent):"
    " register them from Python with access to the database, e.g. my_scorer.register(experiment=...)"
)


class RegisterScorer(BaseModel):
    model_config = ConfigDict(extra="forbid")

    judge: str = Field(min_length=1, max_length=100, description="a built-in judge's class name, e.g. Guidelines")
    name: str | None = Field(default=None, min_length=1, max_length=250, description="default: the judge's own")
    parameters: dict[str, Any] = Field(default_factory=dict, description='e.g. {"guidelines": [...], "model": …}')
    sample_rate: SampleRate = 1.0
    filter: Filter | None = None
    max_calls_per_hour: MaxCalls | None = None
    max_cost_per_hour: MaxCost | None = None

    @model_validator(mode="before")
    @classmethod
    def _no_code(cls, data: Any) -> Any:
        if isinstance(data, dict) and ("code" in data or "source" in data):
            raise ValueError(_CODE_REFUSED)
        return data


class UpdateScorer(BaseModel):
    model_config = ConfigDict(extra="forbid")

    state: Literal["active", "stopped"] | None = None
    sample_rate: SampleRate | None = None
    filter: Filter | None = Field(default=None, description='"" or null removes the filter')
    max_calls_per_hour: MaxCalls | None = Field(default=None, description="null removes the limit")
    max_cost_per_hour: MaxCost | None = Field(default=None, description="null removes the limit")


def _view(store: SqlTraceStore, registration: ScorerRegistration, now_ms: int) -> dict[str, Any]:
    status = scorer_status(store.engine, registration.scorer_id, registration.version, now_ms)
    return {
        "scorer_id": registration.scorer_id,
        "experiment_id": registration.experiment_id,
        "name": registration.name,
        "version": registration.version,
        "kind": registration.kind,
        "definition": registration.definition,
        "state": registration.state,
        "sample_rate": registration.sample_rate,
        "filter": registration.filter_string,
        "max_calls_per_hour": registration.max_calls_per_hour,
        "max_cost_per_hour": registration.max_cost_per_hour,
        "version_time_ms": registration.version_time,
        "created_time_ms": registration.created_time,
        "updated_time_ms": registration.updated_time,
        "status": {
            "runs": status.counts,
            "calls_last_hour": status.calls_last_hour,
            "cost_last_hour": status.cost_last_hour,
            "last_error": status.last_error,
        },
    }


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


def _active_experiment(store: SqlTraceStore, experiment_id: str) -> None:
    if store.get_experiment(experiment_id).lifecycle_stage != "active":
        raise NotFoundError(f"experiment {experiment_id} is deleted")


_PREFIX = "/api/v1/experiments/{experiment_id}/scorers"


@router.get(_PREFIX, summary="List an experiment's scorers")
def list_scorers(experiment_id: ExperimentId, store: StoreDep) -> Response:
    """Return the experiment's registrations, by name, each with its runs by status and the hour's usage."""
    store.get_experiment(experiment_id)
    now = _now_ms()
    found = registry.list_registrations(store, experiment_id)
    return JsonResponse({"scorers": [_view(store, registration, now) for registration in found]})


@router.post(_PREFIX, status_code=201, summary="Register a built-in judge as a scorer")
def register_scorer(experiment_id: ExperimentId, body: RegisterScorer, store: StoreDep, request: Request) -> Response:
    """Register a built-in LLM judge (201), or update the registration of that name (200).

    A changed definition (judge, parameters) makes a new version, which judges new traces again.
    """
    _active_experiment(store, experiment_id)
    scorer = registry.builtin_judge(body.judge, body.name, body.parameters)
    registration, created = registry.save_registration(
        store,
        experiment_id,
        scorer,
        sample_rate=body.sample_rate,
        filter_string=body.filter,
        max_calls_per_hour=body.max_calls_per_hour,
        max_cost_per_hour=body.max_cost_per_hour,
    )
    detail = {
        "name": registration.name,
        "version": registration.version,
        "definition": registration.definition,
        "sample_rate": registration.sample_rate,
        "filter": registration.filter_string,
        "max_calls_per_hour": registration.max_calls_per_hour,
        "max_cost_per_hour": registration.max_cost_per_hour,
    }
    record(request, "scorer.register", "experiment", experiment_id, detail)
    return JsonResponse({"scorer": _view(store, registration, _now_ms())}, status_code=201 if created else 200)


@router.get(_PREFIX + "/{name:path}", summary="Get one scorer of an experiment")
def get_scorer(experiment_id: ExperimentId, name: ScorerName, store: StoreDep) -> Response:
    """Return one registration with its runs by status, the hour's usage and its last error."""
    store.get_experiment(experiment_id)
    registration = registry.find_registration(store, experiment_id, name)
    return JsonResponse({"scorer": _view(store, registration, _now_ms())})


@router.patch(_PREFIX + "/{name:path}", summary="Start, stop or change a scorer")
def update_scorer(
    experiment_id: ExperimentId, name: ScorerName, body: UpdateScorer, store: StoreDep, request: Request
) -> Response:
    """Change the state (`active`, `stopped`), sample rate, filter or budget; the version stays."""
    store.get_experiment(experiment_id)
    sent = body.model_fields_set
    if not sent:
        raise ApiError(
            400, "nothing to change: send state, sample_rate, filter, max_calls_per_hour or max_cost_per_hour"
        )
    for field in ("state", "sample_rate"):
        if field in sent and getattr(body, field) is None:
            raise ApiError(400, f"body field {field!r} cannot be null")
    registration = registry.change_registration(
        store,
        experiment_id,
        name,
        state=body.state if body.state is not None else KEEP,
        sample_rate=body.sample_rate if body.sample_rate is not None else KEEP,
        filter_string=body.filter if "filter" in sent else KEEP,
        max_calls_per_hour=body.max_calls_per_hour if "max_calls_per_hour" in sent else KEEP,
        max_cost_per_hour=body.max_cost_per_hour if "max_cost_per_hour" in sent else KEEP,
    )
    changes = {field: getattr(body, field) for field in sorted(sent)}
    record(request, "scorer.update", "experiment", experiment_id, {"name": name, **changes})
    return JsonResponse({"scorer": _view(store, registration, _now_ms())})


@router.delete(_PREFIX + "/{name:path}", status_code=204, summary="Delete a scorer")
def delete_scorer(experiment_id: ExperimentId, name: ScorerName, store: StoreDep, request: Request) -> Response:
    """Delete the registration and its run records; the assessments it wrote stay."""
    store.get_experiment(experiment_id)
    removed = registry.remove_registration(store, experiment_id, name)
    record(request, "scorer.delete", "experiment", experiment_id, {"name": name, "version": removed.version})
    return Response(status_code=204)


@router.get("/api/v1/scorers", summary="List every scorer")
def list_all_scorers(store: StoreDep) -> Response:
    """Return every registration of every experiment (that the caller can read), by experiment and name."""
    now = _now_ms()
    return JsonResponse({"scorers": [_view(store, found, now) for found in registry.list_registrations(store)]})
