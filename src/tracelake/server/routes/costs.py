"""`POST /api/v1/experiments/{id}/recompute-cost`: reprice an experiment's stored LLM spans.

The server prices with its own settings: genai-prices plus the `TRACELAKE_PRICES_FILE` in its
environment (docs/cost.md). The handler is a plain `def`: FastAPI runs it on its thread pool.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path
from pydantic import BaseModel, ConfigDict, Field

from tracelake.ingest import reprice_span
from tracelake.server.deps import StoreDep
from tracelake.server.responses import JsonResponse

__all__ = ["router"]

router = APIRouter(tags=["Cost"])

ExperimentId = Annotated[str, Path(description="a decimal experiment id", pattern=r"^[0-9]{1,18}$")]


class RecomputeRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    since_ms: Annotated[int | None, Field(ge=0, description="only traces started at or after (Unix ms)")] = None


@router.post("/api/v1/experiments/{experiment_id}/recompute-cost", summary="Recompute the costs of stored traces")
def recompute_cost(experiment_id: ExperimentId, body: RecomputeRequest, store: StoreDep) -> JsonResponse:
    """Price the experiment's stored LLM spans with today's prices; update spans and trace totals.

    Safe to repeat: a second run changes nothing. 404 if the experiment does not exist.
    """
    result = store.recompute_costs(experiment_id, reprice_span, body.since_ms)
    return JsonResponse(result.to_dict())
