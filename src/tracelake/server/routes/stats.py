"""Reads for dashboards and tables: experiment totals, the assessments of many traces, feedback over time."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query
from pydantic import BaseModel, ConfigDict, Field
from starlette.responses import Response

from tracelake.query.stats import (
    MAX_TRACES_PER_READ,
    assessments_by_trace,
    experiment_stats,
    feedback_over_time,
    thumbs_down_trace_ids,
)
from tracelake.server.deps import StoreDep
from tracelake.server.responses import JsonResponse
from tracelake.server.routes.traces import trace_id_of

__all__ = ["router"]

router = APIRouter(tags=["Stats"])


class AssessmentsRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    trace_ids: list[str] = Field(max_length=MAX_TRACES_PER_READ)


class FeedbackMetricsRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    experiment_ids: list[str] | None = Field(default=None, max_length=1000)
    filter: str | None = None
    start_time_ms: int
    end_time_ms: int
    bucket_seconds: int


@router.get("/api/v1/experiment-stats", summary="Trace totals per experiment")
def stats(store: StoreDep) -> Response:
    """Return trace count, error count and rate, and newest trace time of every active experiment with traces."""
    return JsonResponse({"experiments": [item.to_dict() for item in experiment_stats(store)]})


@router.post("/api/v1/assessments/by-trace", summary="Assessments of several traces")
def by_trace(body: AssessmentsRequest, store: StoreDep) -> Response:
    """Return `{"assessments": {trace_id: [Assessment]}}` for the given traces (those without any are absent)."""
    ids = [trace_id_of(trace_id, "trace_ids[]") for trace_id in body.trace_ids]
    found = assessments_by_trace(store, ids)
    return JsonResponse({"assessments": {key: [a.to_dict() for a in items] for key, items in found.items()}})


@router.post("/api/v1/metrics/feedback", summary="Feedback over time")
def feedback(body: FeedbackMetricsRequest, store: StoreDep) -> Response:
    """Count feedback per name and time bucket (of its creation), with the mean numeric value (share of thumbs up)."""
    series = feedback_over_time(
        store, body.experiment_ids, body.start_time_ms, body.end_time_ms, body.bucket_seconds, body.filter
    )
    return JsonResponse({"bucket_seconds": body.bucket_seconds, "series": [item.to_dict() for item in series]})


@router.get("/api/v1/experiments/{experiment_id}/thumbs-down-traces", summary="Traces with a thumbs down")
def thumbs_down(
    experiment_id: Annotated[str, Path(pattern=r"^[0-9]{1,18}$")],
    store: StoreDep,
    max_results: Annotated[int, Query(ge=1, le=MAX_TRACES_PER_READ)] = MAX_TRACES_PER_READ,
) -> Response:
    """Return `{"trace_ids": [...]}`: traces with a feedback whose value is `false`, newest feedback first."""
    return JsonResponse({"trace_ids": thumbs_down_trace_ids(store, experiment_id, max_results)})
