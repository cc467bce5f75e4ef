"""Who is calling: the principal the auth middleware found, and the auth store behind it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final

from starlette.requests import HTTPConnection

from tracelake.exceptions import StoreError
from tracelake.store.sql.auth import AuthStore, Principal

__all__ = ["CSRF_COOKIE", "CSRF_HEADER", "SESSION_COOKIE", "Caller", "auth_enabled", "auth_store_of", "caller_of"]

SESSION_COOKIE: Final = "tracelake_session"
CSRF_COOKIE: Final = "tracelake_csrf"
CSRF_HEADER: Final = "x-csrf-token"


@dataclass(frozen=True)
class Caller:
    """An authenticated caller: its principal and how it proved who it is."""

    principal: Principal
    via: str
    """`token` (Authorization: Bearer) or `session` (the UI's cookie)."""
    csrf_token: str | None = None
    """The session's CSRF token (sessions only)."""
    session_id: str | None = None

    @property
    def name(self) -> str:
        """The principal's name (a username or a client id)."""
        return self.principal.name

    @property
    def is_admin(self) -> bool:
        """Whether the caller may do everything."""
        return self.principal.is_admin


def auth_store_of(state: Any) -> AuthStore:
    """Return the app's `AuthStore` (over the engine of its open store), creating it at first use.

    Raises:
        StoreError: the store is not open (the server is starting or stopping).
    """
    store = getattr(state, "store", None)
    if store is None:
        raise StoreError("the server's store is not open (the server is starting or stopping)")
    auth: AuthStore | None = getattr(state, "auth_store", None)
    if auth is None or getattr(state, "auth_store_engine", None) is not store.engine:
        auth = AuthStore(store.engine)
        state.auth_store = auth
        state.auth_store_engine = store.engine
    return auth


def auth_enabled(connection: HTTPConnection) -> bool:
    """Whether the server requires authentication."""
    return bool(connection.app.state.settings.auth)


def caller_of(connection: HTTPConnection) -> Caller | None:
    """Return the caller the auth middleware authenticated (None when auth is off or on public routes)."""
    caller: Caller | None = connection.scope.get("state", {}).get("caller")
    return caller
