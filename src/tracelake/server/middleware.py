"""Pure ASGI middleware: request ids and request body limits.

Written against raw `scope`/`receive`/`send` (no `BaseHTTPMiddleware`, which buffers, loses context
variables and costs a task per request).
"""

from __future__ import annotations

import re
import uuid
from typing import Final

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from tracelake.server.errors import error_response

__all__ = ["BodySizeLimitMiddleware", "RequestIdMiddleware"]

REQUEST_ID_HEADER: Final = "x-request-id"
# A caller's id is echoed only if it is a short token: it ends up in logs and response headers.
_SAFE_ID = re.compile(rb"[A-Za-z0-9._:-]{1,128}")


class RequestIdMiddleware:
    """Give every request an id (the caller's `x-request-id` if sane, else a fresh one).

    The id is in `request.state.request_id` and in the response's `x-request-id` header, so a
    client's report and the server's log line can be matched.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        given = next((value for name, value in scope["headers"] if name == b"x-request-id"), None)
        request_id = given if given is not None and _SAFE_ID.fullmatch(given) else uuid.uuid4().hex.encode()
        scope.setdefault("state", {})["request_id"] = request_id.decode()

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                message.setdefault("headers", [])
                message["headers"] = [*message["headers"], (b"x-request-id", request_id)]
            await send(message)

        await self.app(scope, receive, send_with_id)


class BodySizeLimitMiddleware:
    """Answer 413 to a request whose body is larger than `max_bytes`, without reading all of it.

    A declared `Content-Length` over the limit is refused before the app runs. A body without one
    (chunked) is counted as it streams; at the limit the middleware answers 413 itself, tells the
    app the client went away, and drops whatever the app still tries to send.
    """

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = next((value for name, value in scope["headers"] if name == b"content-length"), None)
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            await self._refuse(scope, receive, send)
            return

        received = 0
        refused = False
        started = False

        async def limited_receive() -> Message:
            nonlocal received, refused
            if refused:
                return {"type": "http.disconnect"}
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    refused = True
                    if not started:
                        await self._refuse(scope, receive, send)
                    return {"type": "http.disconnect"}
            return message

        async def guarded_send(message: Message) -> None:
            nonlocal started
            if refused:
                return
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, limited_receive, guarded_send)
        except Exception:
            # The app failed only because its body was cut off; the client already has its 413.
            if not refused:
                raise

    async def _refuse(self, scope: Scope, receive: Receive, send: Send) -> None:
        response = error_response(
            413, f"request body is larger than the server's limit of {self.max_bytes} bytes", headers=_CLOSE
        )
        await response(scope, receive, send)


# The rest of the body is never read: the connection cannot be reused for another request.
_CLOSE: Final = {"Connection": "close"}
