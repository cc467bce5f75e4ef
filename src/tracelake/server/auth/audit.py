"""Audit events written by handlers: who changed what, for changes the policy table cannot describe.

The middleware audits deletions named by a policy rule (`Rule.audit`); handlers whose events carry
details (the new settings, the user changed) call `record` themselves. Without authentication
there is nobody to name, so nothing is recorded.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from starlette.requests import Request

from tracelake.server.auth.caller import auth_store_of, caller_of

__all__ = ["record"]


def record(
    request: Request,
    action: str,
    resource_type: str | None,
    resource_id: str | None,
    detail: Mapping[str, Any] | None = None,
) -> None:
    """Append an audit event naming the request's caller (blocking: call it from a `def` handler)."""
    caller = caller_of(request)
    if caller is None:
        return
    request_id: str | None = request.scope.get("state", {}).get("request_id")
    auth_store_of(request.app.state).audit(caller.name, action, resource_type, resource_id, detail, request_id)
