"""`GET /api/v1/experiments/{experiment_id}/sessions`: traces grouped by session id, with per-session totals."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query
from starlette.responses import Response

from tracelake.query.sessions import MAX_SESSIONS_PAGE, list_sessions
from tracelake.server.deps import StoreDep
from tracelake.server.responses import JsonResponse

__all__ = ["router"]

router = APIRouter(tags=["Sessions"])

ExperimentId = Annotated[str, Path(description="a decimal experiment id", pattern=r"^[0-9]{1,18}$")]


@router.get("/api/v1/experiments/{experiment_id}/sessions", summary="List sessions")
def sessions(
    experiment_id: ExperimentId,
    store: StoreDep,
    filter: Annotated[str | None, Query(description="only traces matching this filter count")] = None,
    max_results: Annotated[int, Query(ge=1, le=MAX_SESSIONS_PAGE)] = 50,
    page_token: str | None = None,
) -> Response:
    """Return the experiment's sessions, most recently active first, one page at a time.

    A session's conversation is a search: `session = '<id>'` ordered by `timestamp_ms`.
    """
    page = list_sessions(store, experiment_id, filter, max_results, page_token)
    return JsonResponse(
        {"sessions": [session.to_dict() for session in page.sessions], "next_page_token": page.next_page_token}
    )
