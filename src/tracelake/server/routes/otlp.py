"""`POST /v1/traces`: OTLP/HTTP trace export, protobuf or JSON, compressed or not.

Answers as the OTLP specification says: 200 with an `ExportTraceServiceResponse` in the request's
encoding (its `partial_success` counting the spans refused, and why), once every accepted span is
in the store. A full ingest queue answers 429 with `Retry-After`; errors use the JSON error body
of docs/rest-api.md.
"""

from __future__ import annotations

import zlib
from typing import Final

from fastapi import APIRouter
from starlette.concurrency import run_in_threadpool
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response

from tracelake.ingest.otlp import decode_protobuf, encode_protobuf_response, rejection_message
from tracelake.ingest.otlp_json import decode_json, encode_json_response
from tracelake.server.deps import GateDep, RecyclerDep, ResolverDep, SettingsDep, StoreDep
from tracelake.server.errors import ApiError
from tracelake.server.ingest import ExperimentResolver, ExperimentTarget, target_from_headers, write_decoded
from tracelake.store import SqlTraceStore

__all__ = ["router"]

router = APIRouter(tags=["OTLP"])

PROTOBUF: Final = "application/x-protobuf"
JSON: Final = "application/json"
_MEDIA_TYPES: Final = {PROTOBUF: PROTOBUF, "application/protobuf": PROTOBUF, JSON: JSON}
_GZIP_WBITS: Final = 16 + zlib.MAX_WBITS


def media_type(content_type: str | None) -> str:
    """Return the encoding a Content-Type names (protobuf or JSON); raise 415 for anything else."""
    if not content_type:
        raise ApiError(415, f"missing Content-Type: send {PROTOBUF} or {JSON}")
    essence = content_type.split(";", 1)[0].strip().lower()
    found = _MEDIA_TYPES.get(essence)
    if found is None:
        raise ApiError(415, f"unsupported Content-Type {essence!r}: send {PROTOBUF} or {JSON}")
    return found


def content_codings(header: str | None) -> list[str]:
    """Return the body's content codings, in the order they were applied; raise 415 for unknown ones."""
    codings = [part.strip().lower() for part in (header or "").split(",")]
    codings = [coding for coding in codings if coding and coding != "identity"]
    for coding in codings:
        if coding not in ("gzip", "x-gzip", "deflate"):
            raise ApiError(415, f"unsupported Content-Encoding {coding!r}: send gzip, deflate or no encoding")
    return codings


def _inflate(data: bytes, wbits: int, limit: int) -> bytes:
    parts: list[bytes] = []
    total = 0
    while True:
        inflater = zlib.decompressobj(wbits)
        part = inflater.decompress(data, limit - total + 1)
        total += len(part)
        if total > limit:
            raise ApiError(413, f"decompressed request body is larger than the server's limit of {limit} bytes")
        parts.append(part)
        if not inflater.eof:
            raise ApiError(400, "compressed request body is truncated")
        data = inflater.unused_data
        # gzip allows several members one after the other; whatever follows a deflate stream is junk.
        if not data or wbits != _GZIP_WBITS:
            return b"".join(parts)


def decompress(body: bytes, codings: list[str], limit: int) -> bytes:
    """Undo the content codings (last applied first), never producing more than `limit` bytes."""
    for coding in reversed(codings):
        try:
            if coding == "deflate":
                # "deflate" means zlib-wrapped, but some senders send a raw deflate stream.
                try:
                    body = _inflate(body, zlib.MAX_WBITS, limit)
                except zlib.error:
                    body = _inflate(body, -zlib.MAX_WBITS, limit)
            else:
                body = _inflate(body, _GZIP_WBITS, limit)
        except zlib.error as exc:
            raise ApiError(400, f"request body is not valid {coding} data: {exc}") from None
    return body


def _ingest(
    store: SqlTraceStore,
    resolver: ExperimentResolver,
    body: bytes,
    encoding: str,
    codings: list[str],
    limit: int,
    target: ExperimentTarget | None,
) -> bytes:
    decoded = (decode_protobuf if encoding == PROTOBUF else decode_json)(decompress(body, codings, limit))
    result = write_decoded(store, decoded, target, resolver)
    message = rejection_message(decoded.rejected, result.accepted + result.rejected)
    encode = encode_protobuf_response if encoding == PROTOBUF else encode_json_response
    return encode(result.rejected, message)


@router.post(
    "/v1/traces",
    summary="Export spans (OTLP/HTTP)",
    response_class=Response,
    responses={
        200: {
            "description": "ExportTraceServiceResponse, in the request's encoding",
            "content": {PROTOBUF: {}, JSON: {"example": {"partialSuccess": {"rejectedSpans": "1"}}}},
        },
        400: {"description": "malformed body"},
        404: {"description": "unknown experiment"},
        413: {"description": "body over the limit"},
        415: {"description": "unsupported Content-Type or Content-Encoding"},
        429: {"description": "ingest queue full; retry after `Retry-After` seconds"},
    },
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {PROTOBUF: {"schema": {"type": "string", "format": "binary"}}, JSON: {"schema": {}}},
        }
    },
)
async def export_traces(
    request: Request,
    store: StoreDep,
    settings: SettingsDep,
    gate: GateDep,
    resolver: ResolverDep,
    recycler: RecyclerDep,
) -> Response:
    """Take an `ExportTraceServiceRequest`; the experiment comes from headers or resource attributes."""
    encoding = media_type(request.headers.get("content-type"))
    codings = content_codings(request.headers.get("content-encoding"))
    target = target_from_headers(request.headers)
    if not gate.try_enter():
        raise ApiError(
            429,
            f"the server is busy: {gate.limit} export requests are already in progress; retry later",
            headers={"Retry-After": str(settings.retry_after_seconds)},
        )
    try:
        try:
            body = await request.body()
        except ClientDisconnect:
            return Response(status_code=400)  # nobody is left to read it
        limit = settings.max_body_bytes
        async with gate.working:
            answer = await run_in_threadpool(_ingest, store, resolver, body, encoding, codings, limit, target)
    finally:
        gate.leave()
    # With several server processes, a sender that reconnects may land on a less busy one.
    headers = {"Connection": "close"} if recycler.should_close(request.client, gate.waiting) else None
    return Response(answer, media_type=encoding, headers=headers)
