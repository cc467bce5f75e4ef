"""The auth REST API: me, tokens, service principals and their token endpoint, permissions, users, audit.

See docs/auth.md and docs/rest-api.md.

The auth middleware has already authenticated the caller (the policy marks these routes
`authenticated`, `admin` or `public`); handlers check what is specific to them, e.g. CAN_MANAGE on
the resource whose permissions change. Handlers are plain `def`: they run on the thread pool.
"""

from __future__ import annotations

import base64
import binascii
import json
import time
from typing import Annotated, Any
from urllib.parse import parse_qs

from fastapi import APIRouter, Path, Query
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from tracelake.exceptions import NotFoundError
from tracelake.server.auth.access import check_experiment, check_model
from tracelake.server.auth.caller import Caller, auth_store_of, caller_of
from tracelake.server.auth.ratelimit import FailureLimiter
from tracelake.server.errors import ApiError
from tracelake.server.responses import JsonResponse
from tracelake.store.sql.auth import (
    SERVICE_PRINCIPAL,
    USER,
    AuthStore,
    Principal,
    check_level,
    check_password,
    check_resource_type,
)

__all__ = ["change_user", "limiter_of", "router"]

router = APIRouter(tags=["Auth"])

_OFF = "authentication is off on this server: start it with `tracelake server --auth`"
_DAY_MS = 86_400_000


class CreateToken(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=200)
    expires_in_days: int | None = Field(default=None, ge=1, le=3650)


class CreateServicePrincipal(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=200, description="a display name, e.g. the endpoint's name")


class Grant(BaseModel):
    model_config = ConfigDict(extra="forbid")

    level: str = Field(description="CAN_READ, CAN_EDIT or CAN_MANAGE")


class CreateUser(BaseModel):
    model_config = ConfigDict(extra="forbid")

    username: str = Field(min_length=1, max_length=100)
    password: str = Field(min_length=1, max_length=1024)
    is_admin: bool = False


class UpdateUser(BaseModel):
    model_config = ConfigDict(extra="forbid")

    password: str | None = Field(default=None, min_length=1, max_length=1024)
    active: bool | None = Field(default=None, description="false disables the user: its sessions and tokens stop")
    is_admin: bool | None = None


def _auth(request: Request) -> tuple[AuthStore, Caller]:
    caller = caller_of(request)
    if not request.app.state.settings.auth:
        raise ApiError(400, _OFF)
    if caller is None:  # pragma: no cover - the middleware answers 401 first
        raise ApiError(401, "authentication required")
    return auth_store_of(request.app.state), caller


def limiter_of(request: Request) -> FailureLimiter:
    """Return the app's limiter of failed sign-ins (created at first use)."""
    state = request.app.state
    limiter: FailureLimiter | None = getattr(state, "auth_limiter", None)
    if limiter is None:
        limiter = FailureLimiter(state.settings.auth_attempts_per_minute)
        state.auth_limiter = limiter
    return limiter


def _request_id(request: Request) -> str | None:
    value: str | None = request.scope.get("state", {}).get("request_id")
    return value


@router.get("/api/v1/me", summary="Who am I")
def me(request: Request) -> Response:
    """Return whether the server requires authentication and, if so, the caller's principal."""
    caller = caller_of(request)
    return JsonResponse(
        {
            "auth_enabled": bool(request.app.state.settings.auth),
            "principal": None if caller is None else caller.principal.to_dict(),
        }
    )


# Personal access tokens ----------------------------------------------------------------------------
@router.post("/api/v1/tokens", status_code=201, summary="Create a personal access token")
def create_token(body: CreateToken, request: Request) -> Response:
    """Create a token for the calling user; the token is in this answer only (it is stored hashed)."""
    auth, caller = _auth(request)
    if caller.principal.kind != USER:
        raise ApiError(403, "service principals get tokens from POST /api/v1/oauth/token")
    expires = None if body.expires_in_days is None else time.time_ns() // 1_000_000 + body.expires_in_days * _DAY_MS
    info, token = auth.create_token(caller.principal, body.name, expires_time_ms=expires)
    auth.audit(caller.name, "token.create", "token", str(info.token_id), {"name": info.name}, _request_id(request))
    return JsonResponse({"token": token, "token_info": info.to_dict()}, status_code=201, headers=_NO_STORE)


@router.get("/api/v1/tokens", summary="List my personal access tokens")
def list_tokens(request: Request) -> Response:
    """Return the caller's tokens (never the tokens themselves), newest first."""
    auth, caller = _auth(request)
    return JsonResponse({"tokens": [info.to_dict() for info in auth.list_tokens(caller.principal)]})


@router.delete("/api/v1/tokens/{token_id}", status_code=204, summary="Revoke a personal access token")
def revoke_token(token_id: Annotated[int, Path(ge=1)], request: Request) -> Response:
    """Revoke one of the caller's tokens (admins: anyone's); it stops working at once."""
    auth, caller = _auth(request)
    info = auth.revoke_token(token_id, None if caller.is_admin else caller.principal)
    auth.audit(caller.name, "token.revoke", "token", str(info.token_id), {"name": info.name}, _request_id(request))
    return Response(status_code=204)


# Service principals --------------------------------------------------------------------------------
@router.post("/api/v1/service-principals", status_code=201, summary="Create a service principal")
def create_service_principal(body: CreateServicePrincipal, request: Request) -> Response:
    """Create a service principal owned by the caller; its client secret is in this answer only."""
    auth, caller = _auth(request)
    if caller.principal.kind != USER:
        raise ApiError(403, "only users create service principals")
    principal, secret = auth.create_service_principal(body.name, caller.principal)
    auth.audit(
        caller.name,
        "service_principal.create",
        "service_principal",
        principal.name,
        {"name": body.name},
        _request_id(request),
    )
    return JsonResponse(
        {"service_principal": principal.to_dict(), "client_id": principal.name, "client_secret": secret},
        status_code=201,
        headers=_NO_STORE,
    )


@router.get("/api/v1/service-principals", summary="List service principals")
def list_service_principals(request: Request) -> Response:
    """Return the service principals the caller created (admins: all of them)."""
    auth, caller = _auth(request)
    owner = None if caller.is_admin else caller.principal.principal_id
    found = auth.list_principals(SERVICE_PRINCIPAL, owner_id=owner) if owner is not None or caller.is_admin else []
    return JsonResponse({"service_principals": [principal.to_dict() for principal in found]})


@router.delete("/api/v1/service-principals/{client_id}", status_code=204, summary="Delete a service principal")
def delete_service_principal(client_id: Annotated[str, Path(max_length=200)], request: Request) -> Response:
    """Delete a service principal the caller created (admins: any), with its tokens and permissions."""
    auth, caller = _auth(request)
    principal = auth.get_principal(client_id)
    if (
        principal is None
        or principal.kind != SERVICE_PRINCIPAL
        or not (caller.is_admin or principal.owner_id == caller.principal.principal_id)
    ):
        raise NotFoundError(f"no service principal {client_id!r}")
    auth.delete_principal(client_id)
    auth.audit(caller.name, "service_principal.delete", "service_principal", client_id, None, _request_id(request))
    return Response(status_code=204)


_NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}


def _oauth_error(status: int, error: str, description: str, headers: dict[str, str] | None = None) -> Response:
    # RFC 6749 §5.2: OAuth clients expect this body from a token endpoint, not the API's error body.
    return JsonResponse(
        {"error": error, "error_description": description}, status_code=status, headers={**_NO_STORE, **(headers or {})}
    )


def _token_request_fields(request: Request, body: bytes) -> dict[str, str]:
    content_type = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    fields: dict[str, str] = {}
    if content_type == "application/json":
        data = json.loads(body or b"{}")
        if not isinstance(data, dict):
            raise ValueError("the body must be a JSON object")
        fields = {key: value for key, value in data.items() if isinstance(value, str)}
    elif content_type in ("application/x-www-form-urlencoded", ""):
        for key, values in parse_qs(body.decode("utf-8"), strict_parsing=False).items():
            if len(values) != 1:
                raise ValueError(f"parameter {key!r} is repeated")
            fields[key] = values[0]
    else:
        raise ValueError("send application/x-www-form-urlencoded (or JSON)")
    basic = request.headers.get("authorization", "")
    if basic[:6].lower() == "basic ":
        decoded = base64.b64decode(basic[6:].strip(), validate=True).decode("utf-8")
        client_id, _, secret = decoded.partition(":")
        fields.setdefault("client_id", client_id)
        fields.setdefault("client_secret", secret)
    return fields


@router.post(
    "/api/v1/oauth/token",
    summary="Exchange a service principal's client id and secret for an access token",
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "application/x-www-form-urlencoded": {
                    "schema": {
                        "type": "object",
                        "properties": {
                            "grant_type": {"type": "string", "enum": ["client_credentials"]},
                            "client_id": {"type": "string"},
                            "client_secret": {"type": "string"},
                        },
                        "required": ["grant_type"],
                    }
                }
            },
        }
    },
)
async def oauth_token(request: Request) -> Response:
    """OAuth 2.0 client credentials (RFC 6749 §4.4): answer a short-lived bearer token."""
    settings = request.app.state.settings
    if not settings.auth:
        return _oauth_error(400, "invalid_request", _OFF)
    body = await request.body()
    try:
        fields = _token_request_fields(request, body)
    except (ValueError, UnicodeDecodeError, binascii.Error) as exc:
        return _oauth_error(400, "invalid_request", f"malformed token request: {exc}")
    if fields.get("grant_type") != "client_credentials":
        return _oauth_error(400, "unsupported_grant_type", "only grant_type=client_credentials is supported")
    client_id = fields.get("client_id", "")
    secret = fields.get("client_secret", "")
    if not client_id or not secret:
        return _oauth_error(400, "invalid_request", "client_id and client_secret are required")
    limiter = limiter_of(request)
    keys = (f"ip:{request.client.host if request.client else '-'}", f"client:{client_id[:200]}")
    wait = limiter.retry_after(*keys)
    if wait is not None:
        return _oauth_error(429, "slow_down", "too many failed attempts: retry later", {"Retry-After": str(wait)})
    auth = auth_store_of(request.app.state)
    principal = await run_in_threadpool(auth.authenticate_client, client_id, secret)
    if principal is None:
        limiter.failed(*keys)
        return _oauth_error(401, "invalid_client", "unknown client or wrong secret", {"WWW-Authenticate": "Basic"})
    ttl = settings.access_token_ttl_s
    expires = time.time_ns() // 1_000_000 + ttl * 1000
    _, token = await run_in_threadpool(
        lambda: auth.create_token(principal, "client credentials", expires_time_ms=expires, kind="access")
    )
    return JsonResponse({"access_token": token, "token_type": "Bearer", "expires_in": ttl}, headers=_NO_STORE)


# Permissions ---------------------------------------------------------------------------------------
ResourceType = Annotated[str, Path(description="experiment or registered_model")]
ResourceId = Annotated[str, Path(description="an experiment id or a registered model name", max_length=500)]
PrincipalName = Annotated[str, Path(description="a username or a service principal's client id", max_length=200)]


def _managed(request: Request, resource_type: str, resource_id: str) -> tuple[AuthStore, Caller]:
    auth, caller = _auth(request)
    resource_type = check_resource_type(resource_type)
    check = check_experiment if resource_type == "experiment" else check_model
    decision = check(auth, caller, resource_id, "CAN_MANAGE")
    if decision.status:
        raise ApiError(decision.status, decision.message)
    return auth, caller


@router.get("/api/v1/permissions/{resource_type}/{resource_id}", summary="List the permissions on a resource")
def list_permissions(resource_type: ResourceType, resource_id: ResourceId, request: Request) -> Response:
    """Return every grant on an experiment or registered model (CAN_MANAGE on it needed)."""
    auth, _ = _managed(request, resource_type, resource_id)
    grants = auth.list_permissions(resource_type, resource_id)
    return JsonResponse({"permissions": [grant.to_dict() for grant in grants]})


@router.put("/api/v1/permissions/{resource_type}/{resource_id}/{principal}", summary="Grant a permission")
def grant_permission(
    resource_type: ResourceType, resource_id: ResourceId, principal: PrincipalName, body: Grant, request: Request
) -> Response:
    """Give a user or service principal a level on the resource (replacing its previous level)."""
    auth, caller = _managed(request, resource_type, resource_id)
    level = check_level(body.level)
    grantee = auth.get_principal(principal)
    if grantee is None:
        raise NotFoundError(f"no user or service principal named {principal!r}")
    grant = auth.grant(grantee, resource_type, resource_id, level, caller.name)
    auth.audit(
        caller.name,
        "permission.grant",
        resource_type,
        resource_id,
        {"principal": principal, "level": level},
        _request_id(request),
    )
    return JsonResponse({"permission": grant.to_dict()})


@router.delete(
    "/api/v1/permissions/{resource_type}/{resource_id}/{principal}", status_code=204, summary="Revoke a permission"
)
def revoke_permission(
    resource_type: ResourceType, resource_id: ResourceId, principal: PrincipalName, request: Request
) -> Response:
    """Take away a principal's level on the resource; 404 if it had none."""
    auth, caller = _managed(request, resource_type, resource_id)
    grantee = auth.get_principal(principal)
    if grantee is None or not auth.revoke(grantee, resource_type, resource_id):
        raise NotFoundError(f"{principal!r} holds no permission on {resource_type} {resource_id!r}")
    auth.audit(
        caller.name, "permission.revoke", resource_type, resource_id, {"principal": principal}, _request_id(request)
    )
    return Response(status_code=204)


# Users and the audit log (admins) ------------------------------------------------------------------
@router.post("/api/v1/users", status_code=201, summary="Create a user")
def create_user(body: CreateUser, request: Request) -> Response:
    """Create a user with a password (admins only)."""
    auth, caller = _auth(request)
    user = auth.create_user(body.username, body.password, is_admin=body.is_admin)
    auth.audit(caller.name, "user.create", "user", user.name, {"is_admin": user.is_admin}, _request_id(request))
    return JsonResponse({"user": user.to_dict()}, status_code=201)


@router.get("/api/v1/users", summary="List users")
def list_users(request: Request) -> Response:
    """Return every user (admins only)."""
    auth, _ = _auth(request)
    return JsonResponse({"users": [user.to_dict() for user in auth.list_principals(USER)]})


@router.patch("/api/v1/users/{username}", summary="Change a user: password, enabled, admin")
def update_user(username: Annotated[str, Path(max_length=200)], body: UpdateUser, request: Request) -> Response:
    """Set a new password (ending the user's UI sessions), enable or disable it, give or take admin rights.

    Admins only. Disabling a user stops its sessions and tokens at once; the last enabled admin can
    be neither disabled nor demoted (409), and nobody changes their own `active` or `is_admin` (400).
    """
    auth, caller = _auth(request)
    if body.password is None and body.active is None and body.is_admin is None:
        raise ApiError(400, "nothing to change: send password, active or is_admin")
    if body.password is not None:
        check_password(body.password)  # before anything changes: a refused request writes nothing
    request_id = _request_id(request)
    user = change_user(auth, caller, username, active=body.active, is_admin=body.is_admin, request_id=request_id)
    if body.password is not None:
        auth.set_password(username, body.password)
        auth.audit(caller.name, "user.password", "user", username, None, request_id)
        user = auth.get_principal(username) or user
    return JsonResponse({"user": user.to_dict()})


def change_user(
    auth: AuthStore,
    caller: Caller,
    username: str,
    *,
    active: bool | None,
    is_admin: bool | None,
    request_id: str | None,
) -> Principal:
    """Enable or disable a user or change its admin rights, with the audit events; return it as it is now.

    Raises:
        ApiError: 400 for a change of the caller's own `active` or `is_admin`.
        NotFoundError: no such user. ConflictError: it is the last enabled admin.
    """
    found = auth.get_principal(username)
    if found is None or found.kind != USER:
        raise NotFoundError(f"no user named {username!r}")
    if active is None and is_admin is None:
        return found
    if username == caller.name and (active is False or is_admin is False):
        raise ApiError(400, "you cannot disable yourself or take your own admin rights: ask another admin")
    user = auth.set_user_flags(username, active=active, is_admin=is_admin)
    if active is not None and active == found.disabled:
        auth.audit(caller.name, "user.enable" if active else "user.disable", "user", username, None, request_id)
    if is_admin is not None and is_admin != found.is_admin:
        action = "user.admin_grant" if is_admin else "user.admin_revoke"
        auth.audit(caller.name, action, "user", username, None, request_id)
    return user


@router.delete("/api/v1/users/{username}", status_code=204, summary="Delete a user")
def delete_user(username: Annotated[str, Path(max_length=200)], request: Request) -> Response:
    """Delete a user with its tokens, sessions and permissions (admins only)."""
    auth, caller = _auth(request)
    if username == caller.name:
        raise ApiError(400, "you cannot delete yourself")
    found = auth.get_principal(username)
    if found is None or found.kind != USER:
        raise NotFoundError(f"no user named {username!r}")
    auth.delete_principal(username)
    return Response(status_code=204)


@router.get("/api/v1/audit-log", summary="Read the audit log")
def audit_log(
    request: Request,
    max_results: Annotated[int, Query(ge=1, le=1000)] = 100,
    before_id: Annotated[int | None, Query(ge=1)] = None,
) -> Response:
    """Return audit events (permission changes, deletions, users, tokens), newest first (admins only)."""
    auth, _ = _auth(request)
    events = auth.audit_events(max_results, before_id)
    next_before = events[-1].event_id if len(events) == max_results else None
    body: dict[str, Any] = {"events": [event.to_dict() for event in events], "next_before_id": next_before}
    return JsonResponse(body)
