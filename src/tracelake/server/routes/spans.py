"""The trace view's reads: a trace's span index (no payloads) and one span with its payload."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path
from starlette.responses import Response

from tracelake.exceptions import NotFoundError
from tracelake.query.span_index import span_index
from tracelake.server.deps import StoreDep
from tracelake.server.responses import JsonResponse
from tracelake.server.routes.traces import TraceIdPath, trace_id_of

__all__ = ["router"]

router = APIRouter(tags=["Traces"])

SpanId = Annotated[str, Path(description="16 hex characters", min_length=1, max_length=16)]


@router.get("/api/v1/traces/{trace_id}/span-index", summary="A trace's spans without payloads")
def get_span_index(trace_id: TraceIdPath, store: StoreDep) -> Response:
    """Return every span's id, parent, name, type, status, times, model, tokens and cost: the tree, not the payloads."""
    summaries = span_index(store, trace_id_of(trace_id))
    return JsonResponse({"spans": [summary.to_dict() for summary in summaries]})


@router.get("/api/v1/traces/{trace_id}/spans/{span_id}", summary="One span with its payload")
def get_span(trace_id: TraceIdPath, span_id: SpanId, store: StoreDep) -> Response:
    """Return one span in full: inputs, outputs, attributes, events, status message."""
    wanted = span_id.lower()
    for span in store.get_spans(trace_id_of(trace_id)):
        if span.span_id == wanted:
            return JsonResponse({"span": span.to_dict()})
    raise NotFoundError(f"trace {trace_id!r} has no span {span_id!r}")
