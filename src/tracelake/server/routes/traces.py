"""`/api/v1/traces`: search, get, batch get, tags, delete; and a trace by its client request id."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Annotated, Any

from fastapi import APIRouter, Path
from pydantic import BaseModel, ConfigDict, Field
from starlette.responses import Response

from tracelake.exceptions import NotFoundError
from tracelake.model import TraceInfo
from tracelake.query import search_traces
from tracelake.query.search import MAX_RESULTS_LIMIT
from tracelake.server.deps import StoreDep
from tracelake.server.errors import ApiError
from tracelake.server.responses import JsonResponse
from tracelake.store import SqlTraceStore
from tracelake.store.sql.rows import KEY_MAX

__all__ = ["router"]

router = APIRouter(tags=["Traces"])

# What the store accepts as a trace id (OTLP ids are 32 lowercase hex characters).
_TRACE_ID = re.compile(r"[0-9A-Za-z_-]{1,32}")
_HEX_ID = re.compile(r"[0-9A-Fa-f]{32}")
MAX_BATCH = 1000

TraceIdPath = Annotated[str, Path(description="32 hex characters")]
ExperimentId = Annotated[str, Path(description="a decimal experiment id", pattern=r"^[0-9]{1,18}$")]
TagKey = Annotated[str, Path(min_length=1, max_length=KEY_MAX)]


def trace_id_of(value: str, field: str = "trace_id") -> str:
    """Return a valid trace id (hex ids lower-cased); raise 400 naming `field` otherwise."""
    if _HEX_ID.fullmatch(value):
        return value.lower()
    if not _TRACE_ID.fullmatch(value):
        raise ApiError(400, f"{field} {value[:80]!r} is not a valid trace id: expected 32 hex characters")
    return value


def _trace(store: SqlTraceStore, info: TraceInfo, include_spans: bool) -> dict[str, Any]:
    spans = [span.to_dict() for span in store.get_spans(info.trace_id)] if include_spans else []
    return {"info": info.to_dict(), "data": {"spans": spans}}


class SearchRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    experiment_ids: list[str] | None = Field(default=None, max_length=1000)
    filter: str | None = None
    order_by: list[str] | None = Field(default=None, max_length=20)
    max_results: int = Field(default=100, ge=1, le=MAX_RESULTS_LIMIT)
    page_token: str | None = None
    include_spans: bool = False


class BatchGetRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    trace_ids: list[str] = Field(max_length=MAX_BATCH)
    include_spans: bool = True


class TagValue(BaseModel):
    model_config = ConfigDict(extra="forbid")

    value: str


class DeleteRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    experiment_id: str = Field(pattern=r"^[0-9]{1,18}$")
    max_timestamp_ms: int | None = None
    max_traces: int | None = Field(default=None, ge=1)
    trace_ids: list[str] | None = Field(default=None, max_length=10_000)


@router.post("/api/v1/traces/search", summary="Search traces")
def search(body: SearchRequest, store: StoreDep) -> Response:
    """Find traces matching a filter (see the filter grammar), in order, one page at a time."""
    page = search_traces(
        store,
        body.experiment_ids,
        filter_string=body.filter,
        order_by=body.order_by,
        max_results=body.max_results,
        page_token=body.page_token,
    )
    traces = [_trace(store, info, body.include_spans) for info in page.trace_infos]
    return JsonResponse({"traces": traces, "next_page_token": page.next_page_token})


@router.get("/api/v1/traces/{trace_id}", summary="Get a trace")
def get_trace(trace_id: TraceIdPath, store: StoreDep, include_spans: bool = True) -> Response:
    """Return a trace's summary (with its assessments) and, unless asked not to, its spans."""
    info = store.get_trace_info(trace_id_of(trace_id))
    return JsonResponse({"trace": _trace(store, info, include_spans)})


@router.post("/api/v1/traces/batch-get", summary="Get several traces")
def batch_get(body: BatchGetRequest, store: StoreDep) -> Response:
    """Return the traces that exist among `trace_ids`, in that order."""
    ids = [trace_id_of(trace_id, "trace_ids[]") for trace_id in body.trace_ids]
    infos = store.get_trace_infos(list(dict.fromkeys(ids)))
    return JsonResponse({"traces": [_trace(store, info, body.include_spans) for info in infos]})


@router.get(
    "/api/v1/experiments/{experiment_id}/traces/by-client-request-id/{client_request_id:path}",
    summary="Get a trace by the client request id its caller chose",
)
def get_by_client_request_id(experiment_id: ExperimentId, client_request_id: str, store: StoreDep) -> Response:
    """Return the newest trace of the experiment with this client request id (summary and assessments)."""
    info = store.find_trace_by_client_request_id(experiment_id, client_request_id)
    if info is None:
        raise NotFoundError(f"no trace with client_request_id {client_request_id!r} in experiment {experiment_id}")
    return JsonResponse({"trace": {"info": info.to_dict(), "data": {"spans": []}}})


@router.put("/api/v1/traces/{trace_id}/tags/{key:path}", status_code=204, summary="Set a trace tag")
def set_tag(trace_id: TraceIdPath, key: TagKey, body: TagValue, store: StoreDep) -> Response:
    """Set (or overwrite) a tag."""
    store.set_trace_tag(trace_id_of(trace_id), key, body.value)
    return Response(status_code=204)


@router.delete("/api/v1/traces/{trace_id}/tags/{key:path}", status_code=204, summary="Delete a trace tag")
def delete_tag(trace_id: TraceIdPath, key: TagKey, store: StoreDep) -> Response:
    """Delete a tag; 404 if the trace or the tag does not exist."""
    store.delete_trace_tag(trace_id_of(trace_id), key)
    return Response(status_code=204)


@router.post("/api/v1/traces/delete", summary="Delete traces")
def delete(body: DeleteRequest, store: StoreDep) -> Response:
    """Delete traces of one experiment by ids, or by age (oldest first, at most `max_traces`)."""
    ids: Sequence[str] | None = None
    if body.trace_ids is not None:
        ids = [trace_id_of(trace_id, "trace_ids[]") for trace_id in body.trace_ids]
    deleted = store.delete_traces(body.experiment_id, body.max_timestamp_ms, body.max_traces, ids)
    return JsonResponse({"deleted": deleted})
