"""Every route of the OpenAPI document, and every UI page, called by every kind of caller.

Callers: anonymous; users holding CAN_READ, CAN_EDIT or CAN_MANAGE on *another* experiment and
model; users holding each level on *the* experiment and model; an admin. The answer must be what
the table says: 401 for anonymous callers (or the login page for browsers), 404 for resources the
caller cannot see (never 403: that would say they exist), 403 for a level too low, success otherwise.
A route missing from the table fails the test, so new routes cannot skip the check.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from postgres_db import BACKENDS
from tracelake.monitoring import Safety
from tracelake.monitoring.archive import settings as archive_settings
from tracelake.monitoring.scorers import registry
from tracelake.server import ServerSettings
from tracelake.store import SqlTraceStore
from tracelake.store.sql.auth import LEVELS, AuthStore

from .conftest import AuthServer, serve, settings_for
from .worlds import World, make_world, otlp_body, package_b64

ROLES = ("anonymous", "other_read", "other_edit", "other_manage", "read", "edit", "manage", "admin")
LEVEL = {"read": "CAN_READ", "edit": "CAN_EDIT", "manage": "CAN_MANAGE"}
_UNIQUE = itertools.count(1)

Build = Callable[["Context", World], tuple[str, dict[str, Any]]]


@dataclass
class Context:
    server: AuthServer
    role: str
    package: str

    def unique(self) -> int:
        return next(_UNIQUE)


@dataclass(frozen=True)
class Case:
    """What a route needs (`public`, `signed_in`, `admin`, or a level on the world's resources) and a request."""

    needs: str
    build: Build
    mutates: bool = False
    """The request destroys what it names (delete, rename): each caller it succeeds for gets a fresh world."""


def _req(path: str, **kwargs: Any) -> Build:
    return lambda ctx, w: (path.format(w=w), kwargs)


def _json(path: str, body: Callable[[Context, World], Any]) -> Build:
    return lambda ctx, w: (path.format(w=w), {"json": body(ctx, w)})


def _new_token_id(ctx: Context) -> int:
    principal = ctx.server.auth.get_principal(_user_of(ctx.role))
    assert principal is not None
    info, _ = ctx.server.auth.create_token(principal, "to revoke")
    return info.token_id


def _own_token(ctx: Context, w: World) -> tuple[str, dict[str, Any]]:
    return f"/api/v1/tokens/{_new_token_id(ctx)}", {}


def _own_token_form(ctx: Context, w: World) -> tuple[str, dict[str, Any]]:
    return f"/ui/account/tokens/{_new_token_id(ctx)}/revoke", {}


def _own_service_principal(ctx: Context, w: World) -> tuple[str, dict[str, Any]]:
    principal = ctx.server.auth.get_principal(_user_of(ctx.role))
    created, _ = ctx.server.auth.create_service_principal("mine", principal)
    return f"/api/v1/service-principals/{created.name}", {}


def _oauth(ctx: Context, w: World) -> tuple[str, dict[str, Any]]:
    created, secret = ctx.server.auth.create_service_principal("walker", None)
    return "/api/v1/oauth/token", {
        "data": {"grant_type": "client_credentials", "client_id": created.name, "client_secret": secret}
    }


def _fresh_user(ctx: Context, w: World) -> tuple[str, dict[str, Any]]:
    name = f"victim{ctx.unique()}"
    ctx.server.auth.create_user(name, "long enough password")
    return f"/api/v1/users/{name}", {}


def _archive_location(ctx: Context, w: World) -> tuple[str, dict[str, Any]]:
    location = f"{ctx.server.settings.default_artifact_root}/lakes/walk-{ctx.unique()}"
    return f"/api/v1/experiments/{w.experiment_id}/archive", {"json": {"location": location, "interval_seconds": 60}}


def _archived(ctx: Context, w: World) -> tuple[str, dict[str, Any]]:
    location = f"{ctx.server.settings.default_artifact_root}/lakes/walk-{ctx.unique()}"
    archive_settings.enable(ctx.server.store.engine, w.experiment_id, location)
    return f"/api/v1/experiments/{w.experiment_id}/archive", {}


def _scorer(ctx: Context, w: World) -> tuple[str, dict[str, Any]]:
    name = f"safety{ctx.unique()}"
    registry.save_registration(ctx.server.store, w.experiment_id, Safety(name=name))
    return f"/api/v1/experiments/{w.experiment_id}/scorers/{name}", {}


def _scorer_change(ctx: Context, w: World) -> tuple[str, dict[str, Any]]:
    path, _ = _scorer(ctx, w)
    return path, {"json": {"state": "stopped", "sample_rate": 0.5}}


def _otlp(ctx: Context, w: World) -> tuple[str, dict[str, Any]]:
    n = ctx.unique() + 10_000
    body = otlp_body(f"{n:032x}", f"{n:016x}", client_request_id=f"walk-{n}")
    headers = {"content-type": "application/json", "x-tracelake-experiment-id": w.experiment_id}
    return "/v1/traces", {"content": body, "headers": headers}


_ASSESSMENT = {"name": "note", "kind": "feedback", "value": True}
_T = "/api/v1/traces/{w.trace_id}"
_E = "/api/v1/experiments/{w.experiment_id}"
_M = "/api/v1/registered-models/{w.model}"
_R, _ED, _MA = LEVELS

CASES: dict[tuple[str, str], Case] = {
    ("GET", "/health"): Case("public", _req("/health")),
    ("POST", "/api/v1/oauth/token"): Case("public", _oauth),
    ("POST", "/v1/traces"): Case(_ED, _otlp),
    ("GET", "/api/v1/experiments"): Case("signed_in", _req("/api/v1/experiments")),
    ("POST", "/api/v1/experiments"): Case(
        "signed_in", _json("/api/v1/experiments", lambda c, w: {"name": f"new{c.unique()}"})
    ),
    ("GET", "/api/v1/experiments/by-name/{name}"): Case(_R, _req("/api/v1/experiments/by-name/walk-{w.n}")),
    ("GET", "/api/v1/experiments/{experiment_id}"): Case(_R, _req(_E)),
    ("PATCH", "/api/v1/experiments/{experiment_id}"): Case(
        _MA, _json(_E, lambda c, w: {"name": f"renamed{c.unique()}"}), mutates=True
    ),
    ("DELETE", "/api/v1/experiments/{experiment_id}"): Case(_MA, _req(_E), mutates=True),
    ("POST", "/api/v1/traces/search"): Case("signed_in", _json("/api/v1/traces/search", lambda c, w: {})),
    ("GET", "/api/v1/traces/{trace_id}"): Case(_R, _req(_T)),
    ("POST", "/api/v1/traces/batch-get"): Case(
        "signed_in", _json("/api/v1/traces/batch-get", lambda c, w: {"trace_ids": [w.trace_id]})
    ),
    (
        "GET",
        "/api/v1/experiments/{experiment_id}/traces/by-client-request-id/{client_request_id}",
    ): Case(_R, _req(_E + "/traces/by-client-request-id/{w.client_request_id}")),
    ("PUT", "/api/v1/traces/{trace_id}/tags/{key}"): Case(_ED, _json(_T + "/tags/k2", lambda c, w: {"value": "x"})),
    ("DELETE", "/api/v1/traces/{trace_id}/tags/{key}"): Case(_ED, _req(_T + "/tags/k"), mutates=True),
    ("POST", "/api/v1/traces/delete"): Case(
        _MA,
        _json("/api/v1/traces/delete", lambda c, w: {"experiment_id": w.experiment_id, "trace_ids": [w.trace_id]}),
        mutates=True,
    ),
    ("GET", "/api/v1/traces/{trace_id}/assessments"): Case(_R, _req(_T + "/assessments")),
    ("POST", "/api/v1/traces/{trace_id}/assessments"): Case(_ED, _json(_T + "/assessments", lambda c, w: _ASSESSMENT)),
    ("POST", "/api/v1/experiments/{experiment_id}/assessments"): Case(
        _ED, _json(_E + "/assessments", lambda c, w: {**_ASSESSMENT, "client_request_id": w.client_request_id})
    ),
    ("GET", "/api/v1/traces/{trace_id}/assessments/{assessment_id}"): Case(
        _R, _req(_T + "/assessments/{w.assessment_id}")
    ),
    ("PATCH", "/api/v1/traces/{trace_id}/assessments/{assessment_id}"): Case(
        _ED, _json(_T + "/assessments/{w.assessment_id}", lambda c, w: {"value": True})
    ),
    ("DELETE", "/api/v1/traces/{trace_id}/assessments/{assessment_id}"): Case(
        _ED,
        _req(_T + "/assessments/{w.assessment_id}"),
        mutates=True,
    ),
    ("POST", "/api/v1/experiments/{experiment_id}/recompute-cost"): Case(
        _ED, _json(_E + "/recompute-cost", lambda c, w: {})
    ),
    ("POST", "/api/v1/metrics"): Case(
        "signed_in",
        _json(
            "/api/v1/metrics",
            lambda c, w: {"start_time_ms": 0, "end_time_ms": 10**12 * 2, "bucket_seconds": 86400 * 30},
        ),
    ),
    ("GET", "/api/v1/registered-models"): Case("signed_in", _req("/api/v1/registered-models")),
    ("POST", "/api/v1/registered-models"): Case(
        "signed_in", _json("/api/v1/registered-models", lambda c, w: {"name": f"walk.new.m{c.unique()}"})
    ),
    ("GET", "/api/v1/registered-models/{name}"): Case(_R, _req(_M)),
    ("DELETE", "/api/v1/registered-models/{name}"): Case(_MA, _req(_M), mutates=True),
    ("GET", "/api/v1/registered-models/{name}/versions"): Case(_R, _req(_M + "/versions")),
    ("POST", "/api/v1/registered-models/{name}/versions"): Case(
        _ED, _json(_M + "/versions", lambda c, w: {"package": c.package})
    ),
    ("GET", "/api/v1/registered-models/{name}/versions/{version}"): Case(_R, _req(_M + "/versions/1")),
    ("GET", "/api/v1/registered-models/{name}/versions/{version}/package"): Case(_R, _req(_M + "/versions/1/package")),
    ("GET", "/api/v1/registered-models/{name}/aliases/{alias}"): Case(_R, _req(_M + "/aliases/champion")),
    ("PUT", "/api/v1/registered-models/{name}/aliases/{alias}"): Case(
        _ED, _json(_M + "/aliases/next", lambda c, w: {"version": 1})
    ),
    ("DELETE", "/api/v1/registered-models/{name}/aliases/{alias}"): Case(
        _ED, _req(_M + "/aliases/champion"), mutates=True
    ),
    ("GET", "/api/v1/experiments/{experiment_id}/sessions"): Case(_R, _req(_E + "/sessions")),
    ("GET", "/api/v1/traces/{trace_id}/span-index"): Case(_R, _req(_T + "/span-index")),
    ("GET", "/api/v1/traces/{trace_id}/spans/{span_id}"): Case(_R, _req(_T + "/spans/{w.span_id}")),
    ("GET", "/api/v1/experiment-stats"): Case("signed_in", _req("/api/v1/experiment-stats")),
    ("POST", "/api/v1/assessments/by-trace"): Case(
        "signed_in", _json("/api/v1/assessments/by-trace", lambda c, w: {"trace_ids": [w.trace_id]})
    ),
    ("POST", "/api/v1/metrics/feedback"): Case(
        "signed_in",
        _json(
            "/api/v1/metrics/feedback",
            lambda c, w: {"start_time_ms": 0, "end_time_ms": 10**12 * 2, "bucket_seconds": 86400 * 30},
        ),
    ),
    ("GET", "/api/v1/experiments/{experiment_id}/thumbs-down-traces"): Case(_R, _req(_E + "/thumbs-down-traces")),
    ("GET", "/api/v1/me"): Case("signed_in", _req("/api/v1/me")),
    ("GET", "/api/v1/tokens"): Case("signed_in", _req("/api/v1/tokens")),
    ("POST", "/api/v1/tokens"): Case("signed_in", _json("/api/v1/tokens", lambda c, w: {"name": "walk"})),
    ("DELETE", "/api/v1/tokens/{token_id}"): Case("signed_in", _own_token),
    ("GET", "/api/v1/service-principals"): Case("signed_in", _req("/api/v1/service-principals")),
    ("POST", "/api/v1/service-principals"): Case(
        "signed_in", _json("/api/v1/service-principals", lambda c, w: {"name": "bot"})
    ),
    ("DELETE", "/api/v1/service-principals/{client_id}"): Case("signed_in", _own_service_principal),
    ("GET", "/api/v1/permissions/{resource_type}/{resource_id}"): Case(
        _MA, _req("/api/v1/permissions/experiment/{w.experiment_id}")
    ),
    ("PUT", "/api/v1/permissions/{resource_type}/{resource_id}/{principal}"): Case(
        _MA, _json("/api/v1/permissions/experiment/{w.experiment_id}/bystander", lambda c, w: {"level": "CAN_EDIT"})
    ),
    ("DELETE", "/api/v1/permissions/{resource_type}/{resource_id}/{principal}"): Case(
        _MA,
        _req("/api/v1/permissions/registered_model/{w.model}/bystander"),
        mutates=True,
    ),
    ("GET", "/api/v1/users"): Case("admin", _req("/api/v1/users")),
    ("POST", "/api/v1/users"): Case(
        "admin", _json("/api/v1/users", lambda c, w: {"username": f"new{c.unique()}", "password": "a long password"})
    ),
    ("PATCH", "/api/v1/users/{username}"): Case(
        "admin", _json("/api/v1/users/bystander", lambda c, w: {"password": "another long password"})
    ),
    ("DELETE", "/api/v1/users/{username}"): Case("admin", _fresh_user),
    ("GET", "/api/v1/audit-log"): Case("admin", _req("/api/v1/audit-log")),
    ("GET", "/api/v1/experiments/{experiment_id}/archive"): Case(_R, _req(_E + "/archive")),
    ("PUT", "/api/v1/experiments/{experiment_id}/archive"): Case(_MA, _archive_location),
    ("DELETE", "/api/v1/experiments/{experiment_id}/archive"): Case(_MA, _archived),
    ("GET", "/api/v1/archives"): Case("signed_in", _req("/api/v1/archives")),
    ("GET", "/api/v1/experiments/{experiment_id}/scorers"): Case(_R, _req(_E + "/scorers")),
    ("POST", "/api/v1/experiments/{experiment_id}/scorers"): Case(
        _MA, _json(_E + "/scorers", lambda c, w: {"judge": "Safety", "name": f"walk{c.unique()}", "sample_rate": 0.1})
    ),
    ("GET", "/api/v1/experiments/{experiment_id}/scorers/{name}"): Case(_R, _scorer),
    ("PATCH", "/api/v1/experiments/{experiment_id}/scorers/{name}"): Case(_MA, _scorer_change),
    ("DELETE", "/api/v1/experiments/{experiment_id}/scorers/{name}"): Case(_MA, _scorer),
    ("GET", "/api/v1/scorers"): Case("signed_in", _req("/api/v1/scorers")),
}

#: UI pages are not in the OpenAPI document; browsers without a session are sent to the login page.
PAGES: dict[str, tuple[str, Build]] = {
    "/": ("signed_in", _req("/")),
    "/ui": ("signed_in", _req("/ui")),
    "/ui/": ("signed_in", _req("/ui/")),
    "/ui/experiments": ("signed_in", _req("/ui/experiments")),
    "/ui/account": ("signed_in", _req("/ui/account")),
    "/ui/experiments/{experiment_id}/traces": (_R, _req("/ui/experiments/{w.experiment_id}/traces")),
    "/ui/experiments/{experiment_id}/sessions": (_R, _req("/ui/experiments/{w.experiment_id}/sessions")),
    "/ui/experiments/{experiment_id}/dashboard": (_R, _req("/ui/experiments/{w.experiment_id}/dashboard")),
    "/ui/experiments/{experiment_id}/permissions": (_MA, _req("/ui/experiments/{w.experiment_id}/permissions")),
    "/ui/models/{name}/permissions": (_MA, _req("/ui/models/{w.model}/permissions")),
    "/ui/traces/{trace_id}": (_R, _req("/ui/traces/{w.trace_id}")),
    "/ui/admin/users": ("admin", _req("/ui/admin/users")),
    "/ui/login": ("public", _req("/ui/login")),
    "/ui/static/app.css": ("public", _req("/ui/static/app.css")),
}


#: The forms of the UI's own pages (POST; a bearer token needs no CSRF field). A successful form
#: answers with a redirect back to its page.
FORMS: dict[str, tuple[str, Build]] = {
    "/ui/logout": ("signed_in", _req("/ui/logout")),
    "/ui/account/tokens": ("signed_in", _req("/ui/account/tokens", data={"name": "walk form"})),
    "/ui/account/tokens/{token_id}/revoke": ("signed_in", _own_token_form),
    "/ui/admin/users/{username}": ("admin", _req("/ui/admin/users/bystander", data={"action": "enable"})),
    "/ui/experiments/{experiment_id}/permissions": (
        _MA,
        _req(
            "/ui/experiments/{w.experiment_id}/permissions",
            data={"action": "grant", "principal": "bystander", "level": "CAN_READ"},
        ),
    ),
    "/ui/models/{name}/permissions": (
        _MA,
        _req(
            "/ui/models/{w.model}/permissions", data={"action": "grant", "principal": "bystander", "level": "CAN_READ"}
        ),
    ),
}


def _user_of(role: str) -> str:
    return "root" if role in ("admin", "anonymous") else role


def expected(needs: str, role: str) -> str:
    """The answer the table promises: `ok`, `401`, `403` or `404`."""
    if needs == "public":
        return "ok"
    if role == "anonymous":
        return "401"
    if role == "admin" or needs == "signed_in":
        return "ok"
    if needs == "admin":
        return "403"
    if role.startswith("other_"):
        return "404"
    return "ok" if LEVELS.index(LEVEL[role]) >= LEVELS.index(needs) else "403"


def outcome(response: httpx.Response) -> str:
    if response.is_success:
        return "ok"
    if response.status_code == 303:
        # A browser without a session is sent to log in; a signed-in one is sent on from the login page.
        return "401" if response.headers["location"].startswith("/ui/login?next=") else "ok"
    if response.status_code == 307 and response.request.url.path in ("/", "/ui", "/ui/"):
        return "ok"
    return str(response.status_code)


@pytest.fixture(scope="module", params=BACKENDS)
def walk_server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[AuthServer, str, World, str]]:
    with settings_for(request.param, tmp_path_factory.mktemp("walk")) as settings:
        yield from _walk_server(settings)


def _walk_server(settings: ServerSettings) -> Iterator[tuple[AuthServer, str, World, str]]:
    store = SqlTraceStore(settings.database_url, settings.default_artifact_root)
    try:
        for url in serve(settings):
            server = AuthServer(url, settings, store, AuthStore(store.engine))
            server.user("root", admin=True)
            for role in ROLES[1:-1]:
                server.user(role)
            server.user("bystander")
            package = package_b64()
            with server.client(server.tokens["root"]) as admin:
                other = make_world(admin, package, prefix="other")
                for level in LEVELS:
                    role = "other_" + level.removeprefix("CAN_").lower()
                    server.grant(role, other.experiment_id, level)
                    server.auth.grant(server.principal(role), "registered_model", other.model, level, "test")
                shared = make_world(admin, package)
            _share(server, shared)
            yield server, url, shared, package
    finally:
        for client in _CLIENTS.values():
            client.close()
        _CLIENTS.clear()
        store.close()


def _share(server: AuthServer, world: World) -> None:
    for role, level in LEVEL.items():
        server.grant(role, world.experiment_id, level)
        server.auth.grant(server.principal(role), "registered_model", world.model, level, "test")
    server.grant("bystander", world.experiment_id, "CAN_READ")
    server.auth.grant(server.principal("bystander"), "registered_model", world.model, "CAN_READ", "test")


_CLIENTS: dict[tuple[str, str], httpx.Client] = {}


def _client(server: AuthServer, role: str) -> httpx.Client:
    # One client per caller: making an httpx client costs more than a request.
    key = (server.url, role)
    if key not in _CLIENTS:
        token = None if role == "anonymous" else server.tokens[_user_of(role)]
        _CLIENTS[key] = server.client(token, follow_redirects=False)
    return _CLIENTS[key]


def _call(server: AuthServer, role: str, method: str, build: Build, world: World, package: str) -> httpx.Response:
    path, kwargs = build(Context(server, role, package), world)
    return _client(server, role).request(method, path, **kwargs)


def test_every_documented_route_is_in_the_table(walk_server: tuple[AuthServer, str, World, str]) -> None:
    server, url, _, _ = walk_server
    document = httpx.get(url + "/api/v1/openapi.json", headers={"Authorization": f"Bearer {server.tokens['root']}"})
    routes = {(method.upper(), path) for path, ops in document.json()["paths"].items() for method in ops}
    assert routes - set(CASES) == set(), "routes without an entry in the auth walk's table"
    assert set(CASES) - routes == set()


def test_every_route_answers_each_caller_as_the_table_says(walk_server: tuple[AuthServer, str, World, str]) -> None:
    server, _, shared, package = walk_server
    wrong: list[str] = []
    for (method, template), case in CASES.items():
        for role in ROLES:
            world = shared
            if case.mutates and role not in ("anonymous",) and expected(case.needs, role) == "ok":
                world = make_world(_client(server, "admin"), package)
                _share(server, world)
            response = _call(server, role, method, case.build, world, package)
            want, got = expected(case.needs, role), outcome(response)
            if want != got:
                wrong.append(f"{method} {template} as {role}: expected {want}, got {got} {response.text[:150]}")
    assert wrong == []


def test_every_ui_page_answers_each_caller_as_the_table_says(walk_server: tuple[AuthServer, str, World, str]) -> None:
    server, _, shared, package = walk_server
    wrong = []
    for template, (needs, build) in PAGES.items():
        for role in ROLES:
            response = _call(server, role, "GET", build, shared, package)
            want, got = expected(needs, role), outcome(response)
            if want != got:
                wrong.append(f"GET {template} as {role}: expected {want}, got {got}")
    assert wrong == []


def test_every_ui_form_answers_each_caller_as_the_table_says(walk_server: tuple[AuthServer, str, World, str]) -> None:
    server, _, shared, package = walk_server
    wrong = []
    for template, (needs, build) in FORMS.items():
        for role in ROLES:
            response = _call(server, role, "POST", build, shared, package)
            want, got = expected(needs, role), outcome(response)
            if want != got:
                wrong.append(f"POST {template} as {role}: expected {want}, got {got} {response.text[:150]}")
    assert wrong == []


def test_every_ui_page_and_form_of_the_policy_is_in_the_tables() -> None:
    from tracelake.server.auth.policy import POLICY

    pages = {rule.path for rule in POLICY if rule.page}
    forms = {rule.path for rule in POLICY if rule.form}
    assert pages - set(PAGES) == set(), "UI pages without an entry in the auth walk's table"
    assert forms - set(FORMS) == set(), "UI forms without an entry in the auth walk's table"


def test_every_route_of_the_app_has_a_policy_rule(walk_server: tuple[AuthServer, str, World, str]) -> None:
    from tracelake.server.app import create_app
    from tracelake.server.auth.policy import rule_for_route

    app = create_app(walk_server[0].settings)
    missing = []
    for route in app.routes:
        # FastAPI keeps included routers whole; their routes are listed by `effective_route_contexts()`.
        contexts = getattr(route, "effective_route_contexts", None)
        if contexts is None:
            found = [(getattr(route, "methods", None), getattr(route, "path", ""))]
        else:
            found = [(context.methods, context.path) for context in contexts()]
        for methods, path in found:
            for method in methods or ():
                if method != "HEAD" and rule_for_route(method, path) is None:
                    missing.append(f"{method} {path}")
    assert missing == []
