"""The permission policy: for every route of the server, who may call it.

One table, read by the auth middleware before any handler runs, so that the handlers (written
without auth in mind) never see a request their caller may not make. A route missing from the table
is admins-only (and a test walks the OpenAPI document to find such routes).

Kinds of rule:

- `public`: anyone, no credentials (health, the login page, static files, the token endpoint).
- `authenticated`: any signed-in principal; the handler or a response filter narrows what it sees.
- `admin`: admins only.
- `experiment` / `trace` / `model`: the level needed on the experiment named by a path parameter,
  on the experiment a trace belongs to, or on a registered model.
- `experiment_body`: the level needed on the experiment named by a JSON body field.
- `search`: a JSON body `experiment_ids` list is narrowed to the experiments the caller can read.
- `trace_ids`: a JSON body `trace_ids` list is narrowed to traces the caller can read.
- `otlp`: CAN_EDIT on every experiment an OTLP request writes to.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final

__all__ = ["POLICY", "Rule", "match_rule"]


@dataclass(frozen=True)
class Rule:
    """Who may call one route (see the module docstring for the kinds)."""

    method: str
    path: str
    kind: str
    level: str | None = None
    param: str | None = None
    """The path parameter (experiment, trace, model) or body field the rule reads."""
    filter_list: tuple[str, str, str] | None = None
    """(response key, item field, resource type): keep only the items the caller can read."""
    grant_creator: tuple[str, str, str] | None = None
    """(response key, item field, resource type): a 201 makes the caller CAN_MANAGE of what it created."""
    audit: str | None = None
    """Audit-log action written when the route succeeds (deletions)."""
    page: bool = False
    """A UI page: an anonymous browser is sent to the login page instead of getting 401."""
    form: bool = False
    """A form of the UI's own pages: the handler checks the CSRF field of the form itself."""
    not_found: str = ""
    """For `experiment_by_name`: the message of a 404 the caller gets for an experiment it may not see."""


_R: Final = "CAN_READ"
_E: Final = "CAN_EDIT"
_M: Final = "CAN_MANAGE"
_EXP: Final = "experiment_id"
_TRACE: Final = "trace_id"
_MODEL: Final = "name"
_EXPERIMENTS = "/api/v1/experiments"
_TRACES = "/api/v1/traces/{trace_id}"
_MODELS = "/api/v1/registered-models"
_EXPERIMENT_LIST = ("experiments", "experiment_id", "experiment")

POLICY: Final[tuple[Rule, ...]] = (
    # Open to anyone.
    Rule("GET", "/health", "public"),
    Rule("GET", "/ui/static/{path:path}", "public"),
    Rule("GET", "/ui/login", "public"),
    Rule("POST", "/ui/login", "public"),
    Rule("POST", "/api/v1/oauth/token", "public"),
    # Any signed-in principal.
    Rule("GET", "/api/v1/openapi.json", "authenticated"),
    Rule("GET", "/api/v1/docs", "authenticated"),
    Rule("GET", "/docs/oauth2-redirect", "authenticated"),
    Rule("GET", "/", "authenticated", page=True),
    Rule("GET", "/ui", "authenticated", page=True),
    Rule("GET", "/ui/", "authenticated", page=True),
    Rule("GET", "/ui/experiments", "authenticated", page=True),
    Rule("GET", "/ui/account", "authenticated", page=True),
    Rule("POST", "/ui/account/tokens", "authenticated", form=True),
    Rule("POST", "/ui/account/tokens/{token_id}/revoke", "authenticated", form=True),
    Rule("POST", "/ui/logout", "authenticated", form=True),
    Rule("GET", "/ui/experiments/{experiment_id}/permissions", "experiment", _M, _EXP, page=True),
    Rule("POST", "/ui/experiments/{experiment_id}/permissions", "experiment", _M, _EXP, form=True),
    Rule("GET", "/ui/models/{name}/permissions", "model", _M, _MODEL, page=True),
    Rule("POST", "/ui/models/{name}/permissions", "model", _M, _MODEL, form=True),
    Rule("GET", "/api/v1/me", "authenticated"),
    Rule("GET", "/api/v1/tokens", "authenticated"),
    Rule("POST", "/api/v1/tokens", "authenticated"),
    Rule("DELETE", "/api/v1/tokens/{token_id}", "authenticated"),
    Rule("GET", "/api/v1/service-principals", "authenticated"),
    Rule("POST", "/api/v1/service-principals", "authenticated"),
    Rule("DELETE", "/api/v1/service-principals/{client_id}", "authenticated"),
    # Permissions: the handlers check CAN_MANAGE on the resource (404 if the caller cannot see it).
    Rule("GET", "/api/v1/permissions/{resource_type}/{resource_id}", "authenticated"),
    Rule("PUT", "/api/v1/permissions/{resource_type}/{resource_id}/{principal}", "authenticated"),
    Rule("DELETE", "/api/v1/permissions/{resource_type}/{resource_id}/{principal}", "authenticated"),
    # Admins only.
    Rule("GET", "/api/v1/users", "admin"),
    Rule("POST", "/api/v1/users", "admin"),
    Rule("PATCH", "/api/v1/users/{username}", "admin"),
    Rule("DELETE", "/api/v1/users/{username}", "admin", audit="user.delete"),
    Rule("GET", "/api/v1/audit-log", "admin"),
    Rule("GET", "/ui/admin/users", "admin", page=True),
    Rule("POST", "/ui/admin/users/{username}", "admin", form=True),
    # Experiments.
    Rule("GET", _EXPERIMENTS, "authenticated", filter_list=_EXPERIMENT_LIST),
    Rule("POST", _EXPERIMENTS, "authenticated", grant_creator=("experiment", "experiment_id", "experiment")),
    Rule("GET", _EXPERIMENTS + "/by-name/{name:path}", "experiment_by_name", _R, not_found="no active experiment"),
    Rule(
        "GET",
        _EXPERIMENTS + "/{experiment_id}/traces/by-client-request-id/{client_request_id:path}",
        "experiment",
        _R,
        _EXP,
    ),
    Rule("GET", _EXPERIMENTS + "/{experiment_id}", "experiment", _R, _EXP),
    Rule("PATCH", _EXPERIMENTS + "/{experiment_id}", "experiment", _M, _EXP),
    Rule("DELETE", _EXPERIMENTS + "/{experiment_id}", "experiment", _M, _EXP, audit="experiment.delete"),
    Rule("POST", _EXPERIMENTS + "/{experiment_id}/assessments", "experiment", _E, _EXP),
    Rule("POST", _EXPERIMENTS + "/{experiment_id}/recompute-cost", "experiment", _E, _EXP),
    Rule("GET", _EXPERIMENTS + "/{experiment_id}/sessions", "experiment", _R, _EXP),
    Rule("GET", _EXPERIMENTS + "/{experiment_id}/thumbs-down-traces", "experiment", _R, _EXP),
    Rule(
        "GET", "/api/v1/experiment-stats", "authenticated", filter_list=("experiments", "experiment_id", "experiment")
    ),
    # Monitoring settings: reading needs CAN_READ, changing CAN_MANAGE (the handlers write the audit log).
    Rule("GET", _EXPERIMENTS + "/{experiment_id}/archive", "experiment", _R, _EXP),
    Rule("PUT", _EXPERIMENTS + "/{experiment_id}/archive", "experiment", _M, _EXP),
    Rule("DELETE", _EXPERIMENTS + "/{experiment_id}/archive", "experiment", _M, _EXP),
    Rule("GET", "/api/v1/archives", "authenticated", filter_list=("archives", "experiment_id", "experiment")),
    Rule("GET", _EXPERIMENTS + "/{experiment_id}/scorers", "experiment", _R, _EXP),
    Rule("POST", _EXPERIMENTS + "/{experiment_id}/scorers", "experiment", _M, _EXP),
    Rule("GET", _EXPERIMENTS + "/{experiment_id}/scorers/{name:path}", "experiment", _R, _EXP),
    Rule("PATCH", _EXPERIMENTS + "/{experiment_id}/scorers/{name:path}", "experiment", _M, _EXP),
    Rule("DELETE", _EXPERIMENTS + "/{experiment_id}/scorers/{name:path}", "experiment", _M, _EXP),
    Rule("GET", "/api/v1/scorers", "authenticated", filter_list=("scorers", "experiment_id", "experiment")),
    # Traces.
    Rule("POST", "/api/v1/traces/search", "search", _R, "experiment_ids"),
    Rule("POST", "/api/v1/traces/batch-get", "trace_ids", _R, "trace_ids"),
    Rule("POST", "/api/v1/traces/delete", "experiment_body", _M, _EXP, audit="traces.delete"),
    Rule("GET", _TRACES, "trace", _R, _TRACE),
    Rule("PUT", _TRACES + "/tags/{key:path}", "trace", _E, _TRACE),
    Rule("DELETE", _TRACES + "/tags/{key:path}", "trace", _E, _TRACE),
    Rule("GET", _TRACES + "/assessments", "trace", _R, _TRACE),
    Rule("POST", _TRACES + "/assessments", "trace", _E, _TRACE),
    Rule("GET", _TRACES + "/assessments/{assessment_id}", "trace", _R, _TRACE),
    Rule("PATCH", _TRACES + "/assessments/{assessment_id}", "trace", _E, _TRACE),
    Rule("DELETE", _TRACES + "/assessments/{assessment_id}", "trace", _E, _TRACE, audit="assessment.delete"),
    Rule("GET", _TRACES + "/span-index", "trace", _R, _TRACE),
    Rule("GET", _TRACES + "/spans/{span_id}", "trace", _R, _TRACE),
    Rule("POST", "/api/v1/assessments/by-trace", "trace_ids", _R, "trace_ids"),
    Rule("POST", "/api/v1/metrics", "search", _R, "experiment_ids"),
    Rule("POST", "/api/v1/metrics/feedback", "search", _R, "experiment_ids"),
    Rule("POST", "/v1/traces", "otlp", _E),
    # UI pages of one experiment or trace.
    Rule("GET", "/ui/experiments/{experiment_id}/traces", "experiment", _R, _EXP, page=True),
    Rule("GET", "/ui/experiments/{experiment_id}/sessions", "experiment", _R, _EXP, page=True),
    Rule("GET", "/ui/experiments/{experiment_id}/dashboard", "experiment", _R, _EXP, page=True),
    Rule("GET", "/ui/traces/{trace_id}", "trace", _R, _TRACE, page=True),
    # The model registry.
    Rule("GET", _MODELS, "authenticated", filter_list=("registered_models", "name", "registered_model")),
    Rule("POST", _MODELS, "authenticated", grant_creator=("registered_model", "name", "registered_model")),
    Rule("POST", _MODELS + "/{name}/versions", "model_version_create", _E, _MODEL),
    Rule("GET", _MODELS + "/{name}", "model", _R, _MODEL),
    Rule("DELETE", _MODELS + "/{name}", "model", _M, _MODEL, audit="registered_model.delete"),
    Rule("GET", _MODELS + "/{name}/versions", "model", _R, _MODEL),
    Rule("GET", _MODELS + "/{name}/versions/{version}", "model", _R, _MODEL),
    Rule("GET", _MODELS + "/{name}/versions/{version}/package", "model", _R, _MODEL),
    Rule("GET", _MODELS + "/{name}/aliases/{alias}", "model", _R, _MODEL),
    Rule("PUT", _MODELS + "/{name}/aliases/{alias}", "model", _E, _MODEL),
    Rule("DELETE", _MODELS + "/{name}/aliases/{alias}", "model", _E, _MODEL, audit="registered_model.alias_delete"),
)

_PARAM = re.compile(r"\{([a-zA-Z_][a-zA-Z0-9_]*)(:path)?\}")


def _compile(path: str) -> re.Pattern[str]:
    pattern = ""
    end = 0
    for found in _PARAM.finditer(path):
        pattern += re.escape(path[end : found.start()])
        pattern += f"(?P<{found.group(1)}>.*)" if found.group(2) else f"(?P<{found.group(1)}>[^/]+)"
        end = found.end()
    return re.compile(pattern + re.escape(path[end:]))


_COMPILED: Final = tuple((rule, _compile(rule.path)) for rule in POLICY)


def match_rule(method: str, path: str) -> tuple[Rule, dict[str, str]] | None:
    """Return the rule of a request and its path parameters, or None if no rule covers it."""
    method = "GET" if method == "HEAD" else method
    for rule, pattern in _COMPILED:
        if rule.method != method:
            continue
        found = pattern.fullmatch(path)
        if found is not None:
            return rule, found.groupdict()
    return None


def rule_for_route(method: str, path: str) -> Rule | None:
    """Return the rule written for a route template (as the OpenAPI document spells it), if any."""
    plain = _PARAM.sub(lambda found: "{" + found.group(1) + "}", path)
    for rule in POLICY:
        if rule.method == method and _PARAM.sub(lambda found: "{" + found.group(1) + "}", rule.path) == plain:
            return rule
    return None
