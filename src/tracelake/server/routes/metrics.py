"""`POST /api/v1/metrics`: time-bucketed request count, error rate, latency, tokens and cost."""

from __future__ import annotations

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field
from starlette.responses import Response

from tracelake.query import METRICS, query_metrics
from tracelake.server.deps import StoreDep
from tracelake.server.responses import JsonResponse

__all__ = ["MetricsRequest", "router"]

router = APIRouter(tags=["Metrics"])


class MetricsRequest(BaseModel):
    """The body of `POST /api/v1/metrics` (see docs/rest-api.md and docs/metrics.md)."""

    model_config = ConfigDict(extra="forbid")

    experiment_ids: list[str] | None = Field(default=None, max_length=1000)
    filter: str | None = None
    start_time_ms: int
    end_time_ms: int
    bucket_seconds: int
    metrics: list[str] = Field(default_factory=lambda: list(METRICS), max_length=len(METRICS) * 2)
    group_by: str | None = None


@router.post("/api/v1/metrics", summary="Metrics over time")
def metrics(body: MetricsRequest, store: StoreDep) -> Response:
    """Aggregate matching traces into time buckets, optionally one series per tag, metadata, model or span name.

    A sync handler: FastAPI runs it on its thread pool, so the event loop never waits on the database.
    """
    result = query_metrics(
        store,
        body.experiment_ids,
        start_time_ms=body.start_time_ms,
        end_time_ms=body.end_time_ms,
        bucket_seconds=body.bucket_seconds,
        metrics=body.metrics,
        filter_string=body.filter,
        group_by=body.group_by,
    )
    return JsonResponse(result.to_dict())
