"""The permission checks of one request (blocking: the middleware runs them on the thread pool).

An experiment, trace or model the caller holds no level on answers 404 with the message a missing
one gets, so nobody learns what exists beyond what they may read; a level too low answers 403.
"""

from __future__ import annotations

import contextlib
import json
from dataclasses import dataclass, field
from typing import Any

from starlette.datastructures import Headers

from tracelake.ingest.otlp import decode_protobuf
from tracelake.ingest.otlp_json import decode_json
from tracelake.server.auth.caller import Caller
from tracelake.server.auth.policy import Rule
from tracelake.server.errors import ApiError
from tracelake.server.ingest import ExperimentTarget, target_from_headers, target_from_resource
from tracelake.server.routes.otlp import PROTOBUF, content_codings, decompress, media_type
from tracelake.server.routes.traces import trace_id_of
from tracelake.store import SqlTraceStore
from tracelake.store.sql.auth import AuthStore, level_allows

__all__ = ["Decision", "check_experiment", "check_model", "decide", "needs_body"]


@dataclass
class Decision:
    """What the middleware does with a request: refuse it, or let it through (perhaps changed)."""

    status: int = 0
    message: str = ""
    body: bytes | None = None
    """A rewritten JSON body (lists narrowed to what the caller may read)."""
    readable: set[str] = field(default_factory=set)
    """For response filters: the ids (or names) of the resources the caller may read."""
    resource_id: str | None = None
    """The resource the rule is about, for the audit log."""
    grant: tuple[str, str] | None = None
    """(resource type, id) the caller is made CAN_MANAGE of once the request succeeds (it creates it)."""


def _refuse(status: int, message: str) -> Decision:
    return Decision(status=status, message=message)


def needs_body(rule: Rule, caller: Caller, headers: Headers) -> bool:
    """Whether the decision reads the request body."""
    if caller.is_admin:
        return rule.audit is not None and rule.kind == "experiment_body"
    if rule.kind in ("search", "trace_ids", "experiment_body"):
        return True
    if rule.kind == "otlp":
        try:
            return target_from_headers(headers) is None
        except ApiError:
            return False
    return False


def _json_object(body: bytes | None) -> dict[str, Any] | None:
    try:
        value = json.loads(body or b"")
    except (ValueError, UnicodeDecodeError):
        return None
    return value if isinstance(value, dict) else None


def check_experiment(auth: AuthStore, caller: Caller, experiment_id: str, needed: str) -> Decision:
    stage = auth.experiment_stage(experiment_id)
    level = auth.level(caller.principal, "experiment", experiment_id) if stage is not None else None
    if level is None:
        return _refuse(404, f"experiment {experiment_id[:40]!r} does not exist")
    if not level_allows(level, needed):
        return _refuse(403, f"{needed} on experiment {experiment_id} is needed; you have {level}")
    return Decision(resource_id=experiment_id)


def check_model(auth: AuthStore, caller: Caller, name: str, needed: str) -> Decision:
    level = auth.level(caller.principal, "registered_model", name) if auth.model_exists(name) else None
    if level is None:
        return _refuse(404, f"registered model {name[:300]!r} does not exist")
    if not level_allows(level, needed):
        return _refuse(403, f"{needed} on registered model {name!r} is needed; you have {level}")
    return Decision(resource_id=name)


def _readable_experiments(auth: AuthStore, caller: Caller) -> set[str]:
    return set(auth.resources(caller.principal, "experiment"))


def _search(auth: AuthStore, caller: Caller, rule: Rule, body: bytes | None) -> Decision:
    data = _json_object(body)
    if data is None:
        return Decision()  # not a JSON object: the handler refuses it
    key = rule.param or "experiment_ids"
    readable = _readable_experiments(auth, caller)
    asked = data.get(key)
    if asked is None:
        data[key] = sorted(readable & auth.active_experiment_ids(), key=int)
    elif isinstance(asked, list):
        data[key] = [item for item in asked if not isinstance(item, str) or item.strip() in readable]
    return Decision(body=json.dumps(data).encode())


def _trace_ids(auth: AuthStore, caller: Caller, rule: Rule, body: bytes | None) -> Decision:
    data = _json_object(body)
    key = rule.param or "trace_ids"
    if data is None or not isinstance(data.get(key), list):
        return Decision()
    valid: dict[int, str] = {}
    for index, item in enumerate(data[key]):
        if isinstance(item, str):
            with contextlib.suppress(ApiError):  # an invalid id is left in: the handler names it in its 400
                valid[index] = trace_id_of(item)
    found = auth.trace_experiments(list(set(valid.values())))
    readable = _readable_experiments(auth, caller)
    kept = [item for index, item in enumerate(data[key]) if index not in valid or found.get(valid[index]) in readable]
    data[key] = kept
    return Decision(body=json.dumps(data).encode())


def _otlp_targets(headers: Headers, body: bytes | None, limit: int) -> set[ExperimentTarget]:
    target = target_from_headers(headers)
    if target is not None:
        return {target}
    encoding = media_type(headers.get("content-type"))
    raw = decompress(body or b"", content_codings(headers.get("content-encoding")), limit)
    decoded = (decode_protobuf if encoding == PROTOBUF else decode_json)(raw)
    return {target_from_resource(group.resource) for group in decoded.groups}


def _otlp(
    auth: AuthStore, store: SqlTraceStore, caller: Caller, headers: Headers, body: bytes | None, limit: int
) -> Decision:
    try:
        targets = _otlp_targets(headers, body, limit)
    except Exception:
        return Decision()
    for target in sorted(targets, key=lambda t: (t.experiment_id or "", t.name or "")):
        if target.experiment_id is not None:
            if auth.experiment_stage(target.experiment_id) != "active":
                return _refuse(404, f"experiment {target.experiment_id!r} does not exist")
            decision = check_experiment(auth, caller, target.experiment_id, "CAN_EDIT")
        else:
            name = target.name or "Default"
            experiment_id = auth.active_experiment_id(name)
            if experiment_id is None:
                # Sending to a new experiment creates it, and its creator manages it.
                experiment_id = store.get_or_create_experiment(name).experiment_id
                if auth.level(caller.principal, "experiment", experiment_id) is None:
                    auth.grant(caller.principal, "experiment", experiment_id, "CAN_MANAGE", caller.name)
                continue
            level = auth.level(caller.principal, "experiment", experiment_id)
            # Names are unique, so the name's existence is no secret (creating it would fail too).
            if not level_allows(level, "CAN_EDIT"):
                return _refuse(403, f"CAN_EDIT on experiment {name!r} is needed to send traces to it")
            continue
        if decision.status:
            return decision
    return Decision()


def decide(
    auth: AuthStore,
    store: SqlTraceStore,
    caller: Caller,
    rule: Rule,
    params: dict[str, str],
    headers: Headers,
    body: bytes | None,
    body_limit: int,
) -> Decision:
    """Return what to do with a request of an authenticated caller under `rule`."""
    if caller.is_admin:
        if rule.kind == "experiment_body":
            data = _json_object(body) or {}
            return Decision(resource_id=str(data.get(rule.param or "experiment_id", "")))
        return Decision(resource_id=params.get(rule.param or "") if rule.param else None)
    kind = rule.kind
    needed = rule.level or "CAN_READ"
    if kind == "authenticated":
        decision = Decision()
        if rule.filter_list is not None:
            decision.readable = set(auth.resources(caller.principal, rule.filter_list[2]))
        return decision
    if kind == "admin":
        return _refuse(403, "only admins may do this")
    if kind == "experiment":
        return check_experiment(auth, caller, params[rule.param or "experiment_id"], needed)
    if kind == "experiment_by_name":
        name = params["name"]
        experiment_id = auth.active_experiment_id(name)
        if experiment_id is None or auth.level(caller.principal, "experiment", experiment_id) is None:
            return _refuse(404, f"no active experiment named {name!r}")
        return Decision(resource_id=experiment_id)
    if kind == "trace":
        trace_id = trace_id_of(params[rule.param or "trace_id"])
        experiment_id = auth.trace_experiments([trace_id]).get(trace_id)
        if experiment_id is None or auth.level(caller.principal, "experiment", experiment_id) is None:
            return _refuse(404, f"trace {trace_id!r} does not exist")
        decision = check_experiment(auth, caller, experiment_id, needed)
        decision.resource_id = trace_id
        return decision
    if kind == "experiment_body":
        fields = _json_object(body)
        value = None if fields is None else fields.get(rule.param or "experiment_id")
        if not isinstance(value, str) or not value.isascii() or not value.isdigit():
            return Decision()  # the handler refuses a missing or malformed id
        return check_experiment(auth, caller, value, needed)
    if kind == "search":
        return _search(auth, caller, rule, body)
    if kind == "trace_ids":
        return _trace_ids(auth, caller, rule, body)
    if kind == "model":
        return check_model(auth, caller, params[rule.param or "name"], needed)
    if kind == "model_version_create":
        name = params[rule.param or "name"]
        if not auth.model_exists(name):
            # Logging the first version creates the model: its creator will manage it.
            return Decision(resource_id=name, grant=("registered_model", name))
        return check_model(auth, caller, name, needed)
    if kind == "otlp":
        return _otlp(auth, store, caller, headers, body, body_limit)
    return _refuse(403, f"no permission rule covers {rule.method} {rule.path}: only admins may call it")
