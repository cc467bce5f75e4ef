"""`AuthMiddleware`: authenticate every request and enforce the permission policy before any handler.

Pure ASGI (like the other middleware): it finds the caller (a bearer token, or the UI's session
cookie plus a CSRF token for changes), looks the route up in `policy.POLICY`, runs the checks of
`access.decide` on the thread pool, and then lets the request through — sometimes with its JSON
body narrowed to what the caller may read — or answers 401, 403 or 404 itself. After the handler,
it filters list responses, makes creators managers of what they created, and writes the audit log.
"""

from __future__ import annotations

import hmac
import json
import logging
from typing import Any, Final
from urllib.parse import quote, urlsplit

from starlette.concurrency import run_in_threadpool
from starlette.datastructures import Headers
from starlette.requests import cookie_parser
from starlette.responses import RedirectResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from tracelake.server.auth.access import Decision, decide, needs_body
from tracelake.server.auth.caller import CSRF_HEADER, SESSION_COOKIE, Caller, auth_store_of
from tracelake.server.auth.policy import Rule, match_rule
from tracelake.server.errors import ApiError, error_response
from tracelake.store.sql.auth import AuthStore

__all__ = ["AuthMiddleware", "Unauthenticated", "authenticate"]

logger = logging.getLogger("tracelake.server.auth")

_SAFE_METHODS: Final = frozenset({"GET", "HEAD", "OPTIONS"})
_MAX_CREDENTIAL: Final = 512
_CHALLENGE: Final = {"WWW-Authenticate": 'Bearer realm="tracelake"'}


class Unauthenticated(Exception):
    """Credentials were sent but are not valid."""


def authenticate(auth: AuthStore, headers: Headers) -> Caller | None:
    """Return the caller the request's credentials name, None if it sent none (or a dead session).

    Raises:
        Unauthenticated: an Authorization header that is not a valid bearer token.
    """
    authorization = headers.get("authorization")
    if authorization is not None:
        scheme, _, credential = authorization.strip().partition(" ")
        credential = credential.strip()
        if scheme.lower() != "bearer" or not credential:
            raise Unauthenticated("unsupported Authorization header: send 'Authorization: Bearer <token>'")
        principal = auth.principal_for_token(credential) if len(credential) <= _MAX_CREDENTIAL else None
        if principal is None:
            raise Unauthenticated("invalid, expired or revoked token")
        return Caller(principal, "token")
    session_id = cookie_parser(headers.get("cookie", "")).get(SESSION_COOKIE)
    if session_id and len(session_id) <= _MAX_CREDENTIAL:
        found = auth.session_principal(session_id)
        if found is not None:
            return Caller(found[0], "session", csrf_token=found[1], session_id=session_id)
    return None


def _same_origin(scope: Scope, headers: Headers) -> bool:
    """Whether a browser request comes from our own pages.

    Browsers say where a request comes from in `Sec-Fetch-Site`; older ones only in `Origin` (which
    is "null" for our own forms, since the pages send no referrer). Neither header: not a browser's
    cross-site request (the CSRF token still guards changes).
    """
    site = headers.get("sec-fetch-site")
    if site is not None:
        return site in ("same-origin", "none")
    origin = headers.get("origin")
    if origin is None or origin == "null":
        return True
    return urlsplit(origin).netloc == headers.get("host", "")


async def _read_body(receive: Receive) -> tuple[bytes, bool]:
    chunks: list[bytes] = []
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return b"".join(chunks), False
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            return b"".join(chunks), True


def _replay(body: bytes, receive: Receive) -> Receive:
    sent = False

    async def replayed() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replayed


def _with_length(scope: Scope, length: int) -> Scope:
    headers = [(name, value) for name, value in scope["headers"] if name != b"content-length"]
    headers.append((b"content-length", str(length).encode()))
    return {**scope, "headers": headers}


class AuthMiddleware:
    """Authentication and authorization of every request when the server's `auth` setting is on."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        state = scope["app"].state
        scope.setdefault("state", {})["caller"] = None
        if not state.settings.auth or state.store is None:
            await self.app(scope, receive, send)
            return
        found = match_rule(scope["method"], scope["path"])
        rule, params = found if found is not None else (Rule(scope["method"], scope["path"], "unlisted"), {})
        headers = Headers(scope=scope)
        auth = auth_store_of(state)
        try:
            caller = await run_in_threadpool(authenticate, auth, headers)
        except Unauthenticated as exc:
            if rule.kind == "public":
                caller = None
            else:
                await error_response(401, str(exc), headers=_CHALLENGE)(scope, receive, send)
                return
        scope["state"]["caller"] = caller
        if rule.kind == "public":
            await self.app(scope, receive, send)
            return
        if caller is None:
            await self._anonymous(rule, scope, receive, send)
            return
        if caller.via == "session" and scope["method"] not in _SAFE_METHODS:
            problem = self._csrf_problem(rule, caller, scope, headers)
            if problem:
                await error_response(403, problem)(scope, receive, send)
                return
        body: bytes | None = None
        if needs_body(rule, caller, headers):
            body, complete = await _read_body(receive)
            if not complete:
                return  # the client went away
            receive = _replay(body, receive)
        try:
            decision = await run_in_threadpool(
                decide, auth, state.store, caller, rule, params, headers, body, state.settings.max_body_bytes
            )
        except ApiError as exc:
            await error_response(exc.status, exc.message, headers=exc.headers)(scope, receive, send)
            return
        if decision.status:
            await error_response(decision.status, decision.message)(scope, receive, send)
            return
        if decision.body is not None:
            scope = _with_length(scope, len(decision.body))
            receive = _replay(decision.body, receive)
        await self.app(scope, receive, self._after(rule, caller, decision, auth, scope, send))

    @staticmethod
    async def _anonymous(rule: Rule, scope: Scope, receive: Receive, send: Send) -> None:
        if rule.page and scope["method"] in _SAFE_METHODS:
            target = scope["path"] + (("?" + scope["query_string"].decode("latin-1")) if scope["query_string"] else "")
            await RedirectResponse("/ui/login?next=" + quote(target, safe=""), status_code=303)(scope, receive, send)
            return
        message = "authentication required: send 'Authorization: Bearer <token>' or log in"
        await error_response(401, message, headers=_CHALLENGE)(scope, receive, send)

    @staticmethod
    def _csrf_problem(rule: Rule, caller: Caller, scope: Scope, headers: Headers) -> str:
        if not _same_origin(scope, headers):
            return "cross-site request refused"
        if rule.form:
            return ""  # the page's handler checks the form's CSRF field
        sent = headers.get(CSRF_HEADER, "")
        if not caller.csrf_token or not hmac.compare_digest(sent.encode(), caller.csrf_token.encode()):
            return f"missing or wrong {CSRF_HEADER} header: a change made with the UI's session needs its CSRF token"
        return ""

    def _after(self, rule: Rule, caller: Caller, decision: Decision, auth: AuthStore, scope: Scope, send: Send) -> Send:
        """Return a `send` that post-processes the handler's response as the rule asks."""
        buffer = not caller.is_admin and (rule.filter_list is not None or rule.grant_creator is not None)
        if not buffer and rule.audit is None and decision.grant is None:
            return send
        start: Message | None = None
        chunks: list[bytes] = []

        async def after_send(message: Message) -> None:
            nonlocal start
            if message["type"] == "http.response.start":
                start = message
                if not buffer:
                    await send(message)
                return
            if message["type"] != "http.response.body" or start is None:
                await send(message)
                return
            if not buffer:
                if not message.get("more_body", False):
                    # Before the response completes: a client acting on it at once (logging a model's
                    # first version, then reading it) must find its grant already written.
                    await self._succeeded(rule, caller, decision, auth, scope, start["status"], None)
                await send(message)
                return
            chunks.append(message.get("body", b""))
            if message.get("more_body", False):
                return
            body = b"".join(chunks)
            status = start["status"]
            data: Any = None
            if 200 <= status < 300 and body:
                try:
                    data = json.loads(body)
                except ValueError:
                    data = None
            if data is not None and rule.filter_list is not None:
                key, item_field, _ = rule.filter_list
                if isinstance(data.get(key), list):
                    data[key] = [item for item in data[key] if str(item.get(item_field)) in decision.readable]
                    body = json.dumps(data, separators=(",", ":")).encode()
            await self._succeeded(rule, caller, decision, auth, scope, status, data)
            headers = [(name, value) for name, value in start.get("headers", []) if name != b"content-length"]
            headers.append((b"content-length", str(len(body)).encode()))
            await send({**start, "headers": headers})
            await send({"type": "http.response.body", "body": body, "more_body": False})

        return after_send

    @staticmethod
    async def _succeeded(
        rule: Rule, caller: Caller, decision: Decision, auth: AuthStore, scope: Scope, status: int, data: Any
    ) -> None:
        if not 200 <= status < 300:
            return
        grants: list[tuple[str, str]] = []
        if decision.grant is not None and not caller.is_admin:
            grants.append(decision.grant)
        if rule.grant_creator is not None and status == 201 and isinstance(data, dict) and not caller.is_admin:
            key, item_field, resource_type = rule.grant_creator
            created = data.get(key)
            if isinstance(created, dict) and created.get(item_field) is not None:
                grants.append((resource_type, str(created[item_field])))
        request_id = scope.get("state", {}).get("request_id")

        def write() -> None:
            for resource_type, resource_id in grants:
                auth.grant(caller.principal, resource_type, resource_id, "CAN_MANAGE", caller.name)
            if rule.audit is not None:
                resource_type = "registered_model" if rule.kind == "model" else "experiment"
                if rule.kind == "trace":
                    resource_type = "trace"
                if rule.audit == "user.delete":
                    resource_type = "user"
                audited = decision.resource_id
                if audited is None and rule.audit == "user.delete":
                    audited = scope["path"].rsplit("/", 1)[-1]
                auth.audit(caller.name, rule.audit, resource_type, audited, {"path": scope["path"]}, request_id)
                if rule.audit == "registered_model.delete" and audited is not None:
                    auth.forget_resource("registered_model", audited)

        try:
            await run_in_threadpool(write)
        except Exception:  # the response is already decided: log, never turn it into an error
            logger.exception("tracelake: could not record the grant or audit event of %s", scope["path"])
