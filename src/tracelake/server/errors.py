"""Exceptions → HTTP errors: the one place that decides each failure's status, code and message.

Every error the server answers has the body of docs/rest-api.md:
`{"error": {"code": "<CODE>", "message": "<what is wrong>", "position": <int, filters only>}}`.
Handlers raise `tracelake.exceptions` errors (or `ApiError` for HTTP-level problems such as a
wrong content type); they never build error responses themselves.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any, Final

from fastapi import FastAPI
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response

from tracelake.exceptions import (
    ConfigError,
    ConflictError,
    InvalidArgumentError,
    NotFoundError,
    QueryError,
    StoreError,
    TracelakeError,
)
from tracelake.server.responses import JsonResponse

__all__ = ["CODES", "ApiError", "error_response", "install_error_handlers", "response_for"]

logger = logging.getLogger("tracelake.server")

#: HTTP status → error code, as docs/rest-api.md lists them.
CODES: Final = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    409: "CONFLICT",
    413: "PAYLOAD_TOO_LARGE",
    415: "UNSUPPORTED_MEDIA_TYPE",
    429: "RESOURCE_EXHAUSTED",
    500: "INTERNAL",
    503: "UNAVAILABLE",
}


class ApiError(Exception):
    """An HTTP-level failure raised by a handler or middleware.

    Args:
        status: the HTTP status; the error code follows from it (see `CODES`).
        message: what is wrong, for the client.
        headers: extra response headers (e.g. `Retry-After`).
    """

    def __init__(self, status: int, message: str, headers: Mapping[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = dict(headers or {})


def error_response(
    status: int, message: str, position: int | None = None, headers: Mapping[str, str] | None = None
) -> Response:
    """Return the JSON error response of docs/rest-api.md."""
    error: dict[str, Any] = {"code": CODES.get(status, "INVALID_ARGUMENT" if status < 500 else "INTERNAL")}
    error["message"] = message
    if position is not None:
        error["position"] = position
    return JsonResponse({"error": error}, status_code=status, headers=dict(headers or {}))


def response_for(exc: BaseException, retry_after: int = 1) -> Response:
    """Return the error response for an exception raised while serving a request."""
    if isinstance(exc, ApiError):
        return error_response(exc.status, exc.message, headers=exc.headers)
    if isinstance(exc, QueryError):
        return error_response(400, str(exc), position=exc.position)
    if isinstance(exc, NotFoundError):
        return error_response(404, str(exc))
    if isinstance(exc, ConflictError):
        return error_response(409, str(exc))
    if isinstance(exc, InvalidArgumentError):
        return error_response(400, str(exc))
    if isinstance(exc, StoreError):
        # The database or object store failed (or is locked, or restarting): senders should retry.
        logger.warning("store error: %s", exc)
        return error_response(503, str(exc), headers={"Retry-After": str(retry_after)})
    if isinstance(exc, ConfigError | TracelakeError):
        return error_response(400, str(exc))
    logger.error("unexpected error while serving a request", exc_info=exc)
    return error_response(500, "internal error: the server failed to handle the request (see its log)")


def _field(location: tuple[Any, ...]) -> str:
    where, *path = location or ("request",)
    name = ".".join(str(part) for part in path)
    if where == "body":
        return f"body field {name!r}" if name else "request body"
    return f"{where} parameter {name!r}" if name else str(where)


def _validation_message(exc: RequestValidationError) -> str:
    problems = []
    for error in exc.errors()[:5]:
        if error.get("type") == "json_invalid":
            reason = (error.get("ctx") or {}).get("error", "")
            problems.append(f"request body is not valid JSON: {reason}".rstrip(": "))
        else:
            problems.append(f"{_field(tuple(error.get('loc', ())))}: {error.get('msg', 'invalid')}")
    return "; ".join(problems) or "invalid request"


def _http_message(exc: HTTPException, request: Request) -> str:
    cause = exc.__cause__
    if isinstance(cause, UnicodeDecodeError):
        return f"request body is not valid UTF-8 (byte {cause.start})"
    if exc.status_code == 404:
        return f"no such route: {request.method} {request.url.path}"
    if exc.status_code == 405:
        return f"method {request.method} is not allowed on {request.url.path}"
    return str(exc.detail)


def install_error_handlers(app: FastAPI, retry_after: int) -> None:
    """Make `app` answer every failure with the JSON error body."""

    async def on_error(request: Request, exc: Exception) -> Response:
        return response_for(exc, retry_after)

    async def on_validation(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, RequestValidationError)
        return error_response(400, _validation_message(exc))

    async def on_http(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        return error_response(exc.status_code, _http_message(exc, request), headers=exc.headers)

    app.add_exception_handler(RequestValidationError, on_validation)
    app.add_exception_handler(HTTPException, on_http)
    app.add_exception_handler(ApiError, on_error)
    app.add_exception_handler(TracelakeError, on_error)
    app.add_exception_handler(Exception, on_error)
