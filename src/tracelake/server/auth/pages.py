"""The UI's auth pages: login, logout, the account page, permissions pages, users (admins).

The account page shows the caller's tokens and links to the permissions page of everything it
manages; a permissions page (of an experiment or of a registered model, one code path for both)
lists, grants and revokes levels.

Plain server-rendered HTML forms (no script), under the UI's Content-Security-Policy. Every value
shown is escaped. A session is a random id in an HttpOnly, SameSite=Lax cookie (Secure over HTTPS);
its CSRF token is in every form of these pages and, for the UI's scripts, in a readable cookie that
`api.js` copies into the `X-CSRF-Token` header.
"""

from __future__ import annotations

import hmac
import html
import time
from dataclasses import dataclass
from string import Template
from typing import Annotated, Final
from urllib.parse import parse_qs, quote

from fastapi import APIRouter, Path
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from tracelake.exceptions import ConflictError, NotFoundError, TracelakeError
from tracelake.model._registry import MODEL_NAME_MAX
from tracelake.server.auth.access import check_experiment, check_model
from tracelake.server.auth.caller import CSRF_COOKIE, SESSION_COOKIE, Caller, auth_store_of, caller_of
from tracelake.server.auth.middleware import _same_origin
from tracelake.server.auth.routes import change_user, limiter_of
from tracelake.server.errors import ApiError
from tracelake.server.routes.ui import CONTENT_SECURITY_POLICY
from tracelake.store.sql.auth import LEVELS, USER

__all__ = ["router"]

router = APIRouter(include_in_schema=False)

_HEADERS: Final = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Cache-Control": "no-store",
}
_PAGE: Final = Template("""<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>$title · tracelake</title>
<link rel="icon" href="data:,">
<link rel="stylesheet" href="/ui/static/app.css">
</head>
<body data-page="auth">
<header class="topbar"><a class="brand" href="/ui/experiments">tracelake</a></header>
<main id="main" class="auth-page">
<h1>$title</h1>
$content
</main>
</body>
</html>
""")
_MAX_FORM_BYTES: Final = 16_384

ExperimentId = Annotated[str, Path(pattern=r"^[0-9]{1,18}$")]
# A `{name}` segment matches any characters but "/", so `catalog.schema.name` (dots) is one segment.
ModelName = Annotated[str, Path(min_length=1, max_length=MODEL_NAME_MAX)]
_MAX_PRINCIPAL: Final = 200
_MAX_LISTED: Final = 200


def _e(value: object) -> str:
    return html.escape(str(value), quote=True)


def _page(title: str, content: str, status_code: int = 200) -> Response:
    body = _PAGE.substitute(title=_e(title), content=content)
    return Response(body, status_code=status_code, media_type="text/html; charset=utf-8", headers=_HEADERS)


async def _form(request: Request) -> dict[str, str]:
    body = await request.body()
    if len(body) > _MAX_FORM_BYTES:
        raise ApiError(413, "form too large")
    try:
        parsed = parse_qs(body.decode("utf-8"))
    except UnicodeDecodeError:
        raise ApiError(400, "the form is not valid UTF-8") from None
    return {key: values[-1] for key, values in parsed.items()}


def _check_csrf(caller: Caller, form: dict[str, str]) -> None:
    if caller.via != "session":
        return  # a bearer token is not sent by browsers on their own: no cross-site forgery
    sent = form.get("csrf_token", "")
    if not caller.csrf_token or not hmac.compare_digest(sent.encode(), caller.csrf_token.encode()):
        raise ApiError(403, "missing or wrong CSRF token: reload the page and try again")


def _safe_next(target: str | None) -> str:
    # Only a path on this server: never "//evil.example" or "https://…" (an open redirect).
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/ui/experiments"
    return target


def _csrf_field(caller: Caller) -> str:
    return f'<input type="hidden" name="csrf_token" value="{_e(caller.csrf_token or "")}">'


def _login_form(next_path: str, message: str = "") -> str:
    error = f'<p class="error" role="alert">{_e(message)}</p>' if message else ""
    return f"""{error}
<form method="post" action="/ui/login" class="auth-form">
<input type="hidden" name="next" value="{_e(next_path)}">
<label>Username <input name="username" autocomplete="username" required autofocus></label>
<label>Password <input name="password" type="password" autocomplete="current-password" required></label>
<button type="submit">Log in</button>
</form>"""


@router.get("/ui/login")
async def login_page(request: Request) -> Response:
    """The login form (a signed-in browser goes straight on)."""
    next_path = _safe_next(request.query_params.get("next"))
    if not request.app.state.settings.auth or caller_of(request) is not None:
        return RedirectResponse(next_path, status_code=303)
    return _page("Log in", _login_form(next_path))


@router.post("/ui/login")
async def login(request: Request) -> Response:
    """Check the username and password; start a session and go on to `next`."""
    settings = request.app.state.settings
    if not settings.auth:
        return RedirectResponse("/ui/experiments", status_code=303)
    if not _same_origin(request.scope, request.headers):
        raise ApiError(403, "cross-site request refused")
    form = await _form(request)
    username = form.get("username", "")[:200]
    password = form.get("password", "")
    next_path = _safe_next(form.get("next"))
    limiter = limiter_of(request)
    keys = (f"ip:{request.client.host if request.client else '-'}", f"user:{username}")
    wait = limiter.retry_after(*keys)
    if wait is not None:
        response = _page("Log in", _login_form(next_path, "Too many failed attempts: wait a minute."), 429)
        response.headers["Retry-After"] = str(wait)
        return response
    auth = auth_store_of(request.app.state)
    principal = await run_in_threadpool(auth.authenticate_password, username, password)
    if principal is None:
        limiter.failed(*keys)
        return _page("Log in", _login_form(next_path, "Wrong username or password."), 401)
    session_id, csrf_token = await run_in_threadpool(auth.create_session, principal, settings.session_max_age_s)
    response = RedirectResponse(next_path, status_code=303)
    secure = request.url.scheme == "https"
    max_age = settings.session_max_age_s
    response.set_cookie(
        SESSION_COOKIE, session_id, max_age=max_age, path="/", secure=secure, httponly=True, samesite="lax"
    )
    # Readable by our scripts (to send as X-CSRF-Token), never sent by other sites' requests.
    response.set_cookie(CSRF_COOKIE, csrf_token, max_age=max_age, path="/", secure=secure, samesite="strict")
    return response


@router.post("/ui/logout")
async def logout(request: Request) -> Response:
    """End the session and forget its cookies."""
    caller = caller_of(request)
    if caller is not None and caller.session_id is not None:
        _check_csrf(caller, await _form(request))
        await run_in_threadpool(auth_store_of(request.app.state).end_session, caller.session_id)
    response = RedirectResponse("/ui/login", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/")
    response.delete_cookie(CSRF_COOKIE, path="/")
    return response


# Permissions of one resource: an experiment or a registered model -----------------------------------
@dataclass(frozen=True)
class _Resource:
    """A resource whose grants a permissions page shows and changes."""

    type: str
    """The grants' resource type: `experiment` or `registered_model`."""
    id: str
    """The experiment id or the model name."""
    noun: str
    page: str
    """The permissions page's path (path parameters percent-encoded)."""
    back: str
    back_label: str

    def title(self) -> str:
        return f"Permissions of {self.noun} {self.id}"


def _experiment(experiment_id: str) -> _Resource:
    return _Resource(
        "experiment",
        experiment_id,
        "experiment",
        f"/ui/experiments/{experiment_id}/permissions",
        f"/ui/experiments/{experiment_id}/traces",
        "Back to the experiment",
    )


def _model(name: str) -> _Resource:
    return _Resource(
        "registered_model",
        name,
        "registered model",
        f"/ui/models/{quote(name, safe='')}/permissions",
        "/ui/account",
        "Back to your account",
    )


def _links(resources: list[tuple[_Resource, str]], css_class: str) -> str:
    """A list of links to permissions pages: (resource, label), at most `_MAX_LISTED` of them."""
    if not resources:
        return '<p class="empty">None.</p>'
    items = "".join(
        f'<li><a href="{_e(resource.page)}">{_e(label)}</a></li>' for resource, label in resources[:_MAX_LISTED]
    )
    more = len(resources) - _MAX_LISTED
    rest = f"<p>… and {more} more (see <code>tracelake permissions list</code>).</p>" if more > 0 else ""
    return f'<ul class="{css_class}">{items}</ul>{rest}'


def _managed_section(request: Request, caller: Caller) -> str:
    """What the caller holds CAN_MANAGE on (admins: everything), each linked to its permissions page."""
    store = request.app.state.store
    auth = auth_store_of(request.app.state)
    experiments = store.list_experiments()
    models = store.list_registered_models()
    if not caller.is_admin:
        managed_experiments = _managed_ids(auth.resources(caller.principal, "experiment"))
        managed_models = _managed_ids(auth.resources(caller.principal, "registered_model"))
        experiments = [experiment for experiment in experiments if experiment.experiment_id in managed_experiments]
        models = [model for model in models if model.name in managed_models]
    experiment_links = [
        (_experiment(experiment.experiment_id), f"{experiment.name} ({experiment.experiment_id})")
        for experiment in experiments
    ]
    model_links = [(_model(model.name), model.name) for model in models]
    return f"""<h2>Permissions you manage</h2>
<p>Grant and revoke access to what you hold <code>CAN_MANAGE</code> on.</p>
<h3>Experiments</h3>
{_links(experiment_links, "managed-experiments")}
<h3>Registered models</h3>
{_links(model_links, "managed-models")}"""


def _managed_ids(held: dict[str, str]) -> set[str]:
    return {resource_id for resource_id, level in held.items() if level == "CAN_MANAGE"}


def _account(request: Request, caller: Caller, created: str = "", message: str = "") -> Response:
    auth = auth_store_of(request.app.state)
    principal = caller.principal
    rows = []
    if principal.kind == USER:
        for info in auth.list_tokens(principal):
            expires = (
                "never"
                if info.expires_time is None
                else time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(info.expires_time / 1000))
            )
            state = "revoked" if info.revoked_time is not None else "active"
            action = ""
            if info.revoked_time is None:
                action = (
                    f'<form method="post" action="/ui/account/tokens/{info.token_id}/revoke">{_csrf_field(caller)}'
                    f'<button type="submit">Revoke</button></form>'
                )
            rows.append(
                f"<tr><td>{_e(info.name)}</td><td><code>{_e(info.token_prefix)}…</code></td>"
                f"<td>{_e(expires)}</td><td>{state}</td><td>{action}</td></tr>"
            )
    shown = ""
    if created:
        shown = (
            '<p class="notice" role="status">Your new token (copy it now: it is shown only once):</p>'
            f'<p><code id="new-token">{_e(created)}</code></p>'
        )
    error = f'<p class="error" role="alert">{_e(message)}</p>' if message else ""
    admin = ' (admin: <a href="/ui/admin/users">manage users</a>)' if principal.is_admin else ""
    content = f"""<p>Signed in as <strong id="whoami">{_e(principal.name)}</strong>{admin}.</p>
<form method="post" action="/ui/logout">{_csrf_field(caller)}<button type="submit">Log out</button></form>
{_managed_section(request, caller)}
<h2>Personal access tokens</h2>
{shown}{error}
<table class="tokens"><thead><tr><th>Name</th><th>Token</th><th>Expires</th><th>State</th><th></th></tr></thead>
<tbody>{"".join(rows)}</tbody></table>
<form method="post" action="/ui/account/tokens" class="auth-form">{_csrf_field(caller)}
<label>Name <input name="name" required maxlength="200"></label>
<label>Expires in days (empty: never) <input name="expires_in_days" inputmode="numeric"></label>
<button type="submit">Create token</button>
</form>"""
    return _page("Account", content, 201 if created else 200)


def _signed_in(request: Request) -> Caller:
    caller = caller_of(request)
    if caller is None:
        raise ApiError(400, "authentication is off on this server: start it with `tracelake server --auth`")
    return caller


@router.get("/ui/account")
def account_page(request: Request) -> Response:
    """The caller's account: who it is, log out, its personal access tokens."""
    caller = caller_of(request)
    if caller is None:
        return _page("Account", "<p>Authentication is off on this server: everyone who can connect is admin.</p>")
    return _account(request, caller)


@router.post("/ui/account/tokens")
async def create_token(request: Request) -> Response:
    """Create a personal access token and show it once."""
    caller = _signed_in(request)
    form = await _form(request)
    _check_csrf(caller, form)
    if caller.principal.kind != USER:
        raise ApiError(403, "service principals get tokens from POST /api/v1/oauth/token")
    days_text = form.get("expires_in_days", "").strip()
    expires = None
    if days_text:
        if not days_text.isdigit() or not 1 <= int(days_text) <= 3650:
            return await run_in_threadpool(_account, request, caller, "", "Expiry: a number of days from 1 to 3650.")
        expires = time.time_ns() // 1_000_000 + int(days_text) * 86_400_000
    auth = auth_store_of(request.app.state)
    try:
        info, token = await run_in_threadpool(
            lambda: auth.create_token(caller.principal, form.get("name", ""), expires_time_ms=expires)
        )
    except TracelakeError as exc:
        return await run_in_threadpool(_account, request, caller, "", str(exc))
    await run_in_threadpool(auth.audit, caller.name, "token.create", "token", str(info.token_id), {"name": info.name})
    return await run_in_threadpool(_account, request, caller, token)


@router.post("/ui/account/tokens/{token_id}/revoke")
async def revoke_token(token_id: Annotated[int, Path(ge=1)], request: Request) -> Response:
    """Revoke one of the caller's tokens."""
    caller = _signed_in(request)
    _check_csrf(caller, await _form(request))
    auth = auth_store_of(request.app.state)
    info = await run_in_threadpool(auth.revoke_token, token_id, caller.principal)
    await run_in_threadpool(auth.audit, caller.name, "token.revoke", "token", str(info.token_id), {"name": info.name})
    return RedirectResponse("/ui/account", status_code=303)


def _check_manage(request: Request, caller: Caller, resource: _Resource) -> None:
    # The policy already checked non-admins; this also answers 404 to an admin for a missing resource,
    # so nobody writes grants on something that does not exist.
    check = check_experiment if resource.type == "experiment" else check_model
    decision = check(auth_store_of(request.app.state), caller, resource.id, "CAN_MANAGE")
    if decision.status:
        raise ApiError(decision.status, decision.message)


def _permissions(request: Request, caller: Caller, resource: _Resource, message: str = "") -> Response:
    auth = auth_store_of(request.app.state)
    action = _e(resource.page)
    rows = []
    for grant in auth.list_permissions(resource.type, resource.id):
        rows.append(
            f"<tr><td>{_e(grant.principal)}</td><td>{_e(grant.principal_kind)}</td><td>{_e(grant.level)}</td>"
            f'<td><form method="post" action="{action}">{_csrf_field(caller)}'
            '<input type="hidden" name="action" value="revoke">'
            f'<input type="hidden" name="principal" value="{_e(grant.principal)}">'
            '<button type="submit">Revoke</button></form></td></tr>'
        )
    options = "".join(f'<option value="{level}">{level}</option>' for level in LEVELS)
    error = f'<p class="error" role="alert">{_e(message)}</p>' if message else ""
    content = f"""<p><a href="{_e(resource.back)}">{_e(resource.back_label)}</a></p>
{error}
<table class="permissions"><thead><tr><th>Principal</th><th>Kind</th><th>Level</th><th></th></tr></thead>
<tbody>{"".join(rows)}</tbody></table>
<h2>Grant</h2>
<form method="post" action="{action}" class="auth-form">{_csrf_field(caller)}
<input type="hidden" name="action" value="grant">
<label>User or client id <input name="principal" required maxlength="{_MAX_PRINCIPAL}"></label>
<label>Level <select name="level">{options}</select></label>
<button type="submit">Grant</button>
</form>"""
    return _page(resource.title(), content, 400 if message else 200)


def _show_permissions(request: Request, resource: _Resource) -> Response:
    caller = _signed_in(request)
    _check_manage(request, caller, resource)
    return _permissions(request, caller, resource)


def _apply_permission_form(request: Request, caller: Caller, resource: _Resource, form: dict[str, str]) -> Response:
    """Grant or revoke as the form says; on bad input show the page with the problem and write nothing."""
    _check_manage(request, caller, resource)
    action = form.get("action", "")
    if action not in ("grant", "revoke"):
        return _permissions(request, caller, resource, f"Unknown action {action[:40]!r}: send grant or revoke.")
    level = form.get("level", "")
    if action == "grant" and level not in LEVELS:
        return _permissions(
            request, caller, resource, f"Unknown level {level[:40]!r}: choose one of {', '.join(LEVELS)}."
        )
    name = form.get("principal", "").strip()
    if not name:
        return _permissions(request, caller, resource, "Name a user or a service principal's client id.")
    auth = auth_store_of(request.app.state)
    grantee = auth.get_principal(name) if len(name) <= _MAX_PRINCIPAL else None
    if grantee is None:
        return _permissions(request, caller, resource, f"No user or client id {name[:_MAX_PRINCIPAL]!r}.")
    request_id: str | None = request.scope.get("state", {}).get("request_id")
    if action == "revoke":
        if not auth.revoke(grantee, resource.type, resource.id):
            return _permissions(request, caller, resource, f"{name!r} holds no permission on this {resource.noun}.")
        auth.audit(caller.name, "permission.revoke", resource.type, resource.id, {"principal": name}, request_id)
    else:
        auth.grant(grantee, resource.type, resource.id, level, caller.name)
        detail = {"principal": name, "level": level}
        auth.audit(caller.name, "permission.grant", resource.type, resource.id, detail, request_id)
    return RedirectResponse(resource.page, status_code=303)


async def _change_permission(request: Request, resource: _Resource) -> Response:
    caller = _signed_in(request)
    form = await _form(request)
    _check_csrf(caller, form)
    return await run_in_threadpool(_apply_permission_form, request, caller, resource, form)


@router.get("/ui/experiments/{experiment_id}/permissions")
def experiment_permissions_page(experiment_id: ExperimentId, request: Request) -> Response:
    """Who holds which level on the experiment (CAN_MANAGE needed)."""
    return _show_permissions(request, _experiment(experiment_id))


@router.post("/ui/experiments/{experiment_id}/permissions")
async def change_experiment_permission(experiment_id: ExperimentId, request: Request) -> Response:
    """Grant or revoke a level on the experiment (CAN_MANAGE needed)."""
    return await _change_permission(request, _experiment(experiment_id))


@router.get("/ui/models/{name}/permissions")
def model_permissions_page(name: ModelName, request: Request) -> Response:
    """Who holds which level on the registered model (CAN_MANAGE needed)."""
    return _show_permissions(request, _model(name))


@router.post("/ui/models/{name}/permissions")
async def change_model_permission(name: ModelName, request: Request) -> Response:
    """Grant or revoke a level on the registered model (CAN_MANAGE needed)."""
    return await _change_permission(request, _model(name))


# Admins: users ---------------------------------------------------------------------------------------
_USER_ACTIONS: Final[dict[str, dict[str, bool]]] = {
    "disable": {"active": False},
    "enable": {"active": True},
    "make_admin": {"is_admin": True},
    "remove_admin": {"is_admin": False},
}


def _user_button(caller: Caller, username: str, action: str, label: str) -> str:
    return (
        f'<form method="post" action="/ui/admin/users/{quote(username, safe="")}" class="inline-form">'
        f'{_csrf_field(caller)}<input type="hidden" name="action" value="{action}">'
        f'<button type="submit">{label}</button></form>'
    )


def _users(request: Request, caller: Caller, message: str = "", status_code: int = 200) -> Response:
    auth = auth_store_of(request.app.state)
    rows = []
    for user in auth.list_principals(USER):
        actions = []
        if user.name != caller.name:  # nobody disables or demotes themselves (ask another admin)
            if user.disabled:
                actions.append(_user_button(caller, user.name, "enable", "Enable"))
            else:
                actions.append(_user_button(caller, user.name, "disable", "Disable"))
            if user.is_admin:
                actions.append(_user_button(caller, user.name, "remove_admin", "Remove admin"))
            else:
                actions.append(_user_button(caller, user.name, "make_admin", "Make admin"))
        state = "disabled" if user.disabled else "active"
        rows.append(
            f'<tr data-user="{_e(user.name)}"><td>{_e(user.name)}</td><td class="state">{state}</td>'
            f'<td class="admin">{"admin" if user.is_admin else ""}</td>'
            f"<td>{_e(time.strftime('%Y-%m-%d', time.gmtime(user.created_time / 1000)))}</td>"
            f"<td>{''.join(actions)}</td></tr>"
        )
    error = f'<p class="error" role="alert">{_e(message)}</p>' if message else ""
    content = f"""<p><a href="/ui/account">Back to your account</a></p>
<p>A disabled user cannot sign in, and its sessions and tokens stop working at once; enabling it again
brings its tokens back. Service principals are managed over the REST API.</p>
{error}
<table class="users"><thead><tr><th>User</th><th>State</th><th>Admin</th><th>Created</th><th></th></tr></thead>
<tbody>{"".join(rows)}</tbody></table>"""
    return _page("Users", content, status_code)


@router.get("/ui/admin/users")
def users_page(request: Request) -> Response:
    """Every user, with buttons to disable, enable, make admin or remove admin rights (admins only)."""
    return _users(request, _signed_in(request))


@router.post("/ui/admin/users/{username}")
async def change_user_page(username: Annotated[str, Path(max_length=200)], request: Request) -> Response:
    """Apply one button of the users page (admins only)."""
    caller = _signed_in(request)
    form = await _form(request)
    _check_csrf(caller, form)
    change = _USER_ACTIONS.get(form.get("action", ""))
    if change is None:
        return await run_in_threadpool(_users, request, caller, "Unknown action.", 400)
    auth = auth_store_of(request.app.state)
    try:
        await run_in_threadpool(
            lambda: change_user(
                auth,
                caller,
                username,
                active=change.get("active"),
                is_admin=change.get("is_admin"),
                request_id=request.scope.get("state", {}).get("request_id"),
            )
        )
    except ApiError as exc:
        return await run_in_threadpool(_users, request, caller, exc.message, exc.status)
    except TracelakeError as exc:
        status = 404 if isinstance(exc, NotFoundError) else 409 if isinstance(exc, ConflictError) else 400
        return await run_in_threadpool(_users, request, caller, str(exc), status)
    return RedirectResponse("/ui/admin/users", status_code=303)
