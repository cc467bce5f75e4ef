"""Errors of the HTTP client, and the one place that maps HTTP answers onto `tracelake.exceptions`.

    TracelakeError
    ├── StoreError
    │   ├── NotFoundError             404
    │   ├── ConflictError             409
    │   └── ServerUnavailableError    no connection, timeout, 502/503/504
    ├── QueryError                    400 naming a position in a filter or order-by string
    └── ClientError                   any other 4xx/5xx (status and code from the error body)
        └── InvalidRequestError       400: also an InvalidArgumentError, as the same bad input raises
                                      in embedded mode

No httpx exception ever reaches the caller.
"""

from __future__ import annotations

from typing import Any

import httpx

from tracelake.exceptions import (
    ConflictError,
    InvalidArgumentError,
    NotFoundError,
    QueryError,
    StoreError,
    TracelakeError,
)

_UNAVAILABLE = frozenset({502, 503, 504})


class ClientError(TracelakeError):
    """The server refused a request (a 4xx/5xx with no more specific error type).

    Attributes:
        status: the HTTP status code.
        code: the error code of the body (`INVALID_ARGUMENT`, `UNAUTHENTICATED`, `PERMISSION_DENIED`, …).
    """

    def __init__(self, message: str, status: int, code: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code


class InvalidRequestError(ClientError, InvalidArgumentError):
    """The server refused the request's content (HTTP 400): the same error type as in embedded mode."""


class ServerUnavailableError(StoreError):
    """The tracking server could not be reached, timed out, or said it is unavailable.

    Attributes:
        status: the HTTP status code when the server answered (502/503/504), else None.
    """

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


def error_from_response(response: httpx.Response) -> TracelakeError:
    """Return the exception an error response stands for (the error body: docs/rest-api.md)."""
    status = response.status_code
    code, message, position = _parse_error_body(response)
    where = f"{response.request.method} {response.request.url.path}"
    if status == 404:
        return NotFoundError(message)
    if status == 409:
        return ConflictError(message)
    if status == 400 and position is not None:
        # The server's message already shows where; keep it as is and carry the offset.
        error = QueryError(message)
        error.position = position
        return error
    if status == 400:
        return InvalidRequestError(f"{where}: {message}", status, code)
    if status in _UNAVAILABLE:
        return ServerUnavailableError(f"{where}: the server is unavailable (HTTP {status}): {message}", status)
    return ClientError(f"{where}: HTTP {status} {code or ''}: {message}".replace("  ", " "), status, code)


def error_from_transport(exc: httpx.HTTPError, base_url: str) -> TracelakeError:
    """Return the exception for a request that got no HTTP answer."""
    if isinstance(exc, httpx.TimeoutException):
        return ServerUnavailableError(
            f"the tracelake server at {base_url} did not answer in time ({type(exc).__name__})"
        )
    if isinstance(exc, httpx.TransportError):
        detail = str(exc) or type(exc).__name__
        return ServerUnavailableError(f"cannot reach the tracelake server at {base_url}: {detail}")
    return ClientError(f"request to {base_url} failed: {exc}", 0)


def _parse_error_body(response: httpx.Response) -> tuple[str | None, str, int | None]:
    try:
        body: Any = response.json()
    except ValueError:
        text = response.text.strip()
        return None, (text[:500] or response.reason_phrase or "error"), None
    error = body.get("error") if isinstance(body, dict) else None
    if isinstance(error, dict):
        position = error.get("position")
        return (
            str(error["code"]) if error.get("code") is not None else None,
            str(error.get("message") or response.reason_phrase or "error"),
            position if isinstance(position, int) and not isinstance(position, bool) else None,
        )
    detail = body.get("detail") if isinstance(body, dict) else None
    return None, str(detail if detail is not None else body)[:500], None
