"""`AuthStore`: principals, tokens, UI sessions, permissions and the audit log, over a store's engine.

Users and service principals are both *principals* (one table), so tokens and permissions name
either the same way. Only digests of secrets are stored (see `auth_secrets`); a secret is returned
once, when it is created. Permission levels nest: CAN_READ ⊂ CAN_EDIT ⊂ CAN_MANAGE; admins hold
every level on everything and are not listed in the permissions table.
"""

from __future__ import annotations

import hmac
import json
import re
import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any, Final

from sqlalchemy import Engine, Row, and_, delete, func, insert, or_, select, update

from tracelake.exceptions import ConflictError, InvalidArgumentError, NotFoundError
from tracelake.store.sql.auth_secrets import (
    ACCESS_TOKEN_PREFIX,
    CLIENT_SECRET_PREFIX,
    PERSONAL_TOKEN_PREFIX,
    digest,
    hash_password,
    new_secret,
    verify_password,
)
from tracelake.store.sql.engine import read_connection, write_transaction
from tracelake.store.sql.errors import translate_errors
from tracelake.store.sql.schema import (
    auth_audit_log,
    auth_permissions,
    auth_principals,
    auth_sessions,
    auth_tokens,
    experiments,
    registered_models,
    traces,
)

__all__ = [
    "LEVELS",
    "RESOURCE_TYPES",
    "AuditEvent",
    "AuthStore",
    "Permission",
    "Principal",
    "TokenInfo",
    "level_allows",
]

#: Permission levels, weakest first: each includes the ones before it.
LEVELS: Final = ("CAN_READ", "CAN_EDIT", "CAN_MANAGE")
RESOURCE_TYPES: Final = ("experiment", "registered_model")
USER: Final = "user"
SERVICE_PRINCIPAL: Final = "service_principal"
MIN_PASSWORD_LENGTH: Final = 8
_USERNAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@-]{0,99}")
_NAME_MAX: Final = 200


def level_allows(held: str | None, needed: str) -> bool:
    """Return whether a held level (or None) includes the needed one."""
    return held is not None and LEVELS.index(held) >= LEVELS.index(needed)


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


@dataclass(frozen=True)
class Principal:
    """A user or a service principal."""

    principal_id: int
    kind: str
    name: str
    is_admin: bool
    disabled: bool
    created_time: int
    display_name: str | None = None
    owner_id: int | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON form (never any secret or hash)."""
        return {
            "name": self.name,
            "kind": self.kind,
            "is_admin": self.is_admin,
            "active": not self.disabled,
            "disabled": self.disabled,
            "created_time_ms": self.created_time,
            "display_name": self.display_name,
        }


@dataclass(frozen=True)
class TokenInfo:
    """A token's public facts: never the token itself."""

    token_id: int
    principal_id: int
    kind: str
    name: str
    token_prefix: str
    created_time: int
    expires_time: int | None
    revoked_time: int | None

    def to_dict(self) -> dict[str, Any]:
        """JSON form."""
        return {
            "token_id": self.token_id,
            "name": self.name,
            "kind": self.kind,
            "token_prefix": self.token_prefix,
            "created_time_ms": self.created_time,
            "expires_time_ms": self.expires_time,
            "revoked_time_ms": self.revoked_time,
        }


@dataclass(frozen=True)
class Permission:
    """One grant: a principal's level on a resource."""

    principal: str
    principal_kind: str
    resource_type: str
    resource_id: str
    level: str
    granted_by: str | None
    granted_time: int

    def to_dict(self) -> dict[str, Any]:
        """JSON form."""
        return {
            "principal": self.principal,
            "principal_kind": self.principal_kind,
            "resource_type": self.resource_type,
            "resource_id": self.resource_id,
            "level": self.level,
            "granted_by": self.granted_by,
            "granted_time_ms": self.granted_time,
        }


@dataclass(frozen=True)
class AuditEvent:
    """One line of the audit log."""

    event_id: int
    time_ms: int
    actor: str | None
    action: str
    resource_type: str | None
    resource_id: str | None
    detail: dict[str, Any] | None
    request_id: str | None

    def to_dict(self) -> dict[str, Any]:
        """JSON form."""
        return asdict(self)


def _principal(row: Row[Any]) -> Principal:
    return Principal(
        principal_id=row.principal_id,
        kind=row.kind,
        name=row.name,
        is_admin=bool(row.is_admin),
        disabled=bool(row.disabled),
        created_time=row.created_time,
        display_name=row.display_name,
        owner_id=row.owner_id,
    )


def _token(row: Row[Any]) -> TokenInfo:
    return TokenInfo(
        token_id=row.token_id,
        principal_id=row.principal_id,
        kind=row.kind,
        name=row.name,
        token_prefix=row.token_prefix,
        created_time=row.created_time,
        expires_time=row.expires_time,
        revoked_time=row.revoked_time,
    )


def check_level(level: object) -> str:
    """Return `level` if it is a permission level; else raise `InvalidArgumentError`."""
    if level not in LEVELS:
        raise InvalidArgumentError(f"invalid permission level {str(level)[:40]!r}: expected one of {', '.join(LEVELS)}")
    return str(level)


def check_resource_type(resource_type: object) -> str:
    """Return `resource_type` if permissions can be granted on it; else raise `InvalidArgumentError`."""
    if resource_type not in RESOURCE_TYPES:
        raise InvalidArgumentError(
            f"invalid resource type {str(resource_type)[:40]!r}: expected one of {', '.join(RESOURCE_TYPES)}"
        )
    return str(resource_type)


def _check_username(username: object) -> str:
    if not isinstance(username, str) or not _USERNAME.fullmatch(username):
        raise InvalidArgumentError(
            "invalid username: 1 to 100 characters, letters, digits and . _ @ -, starting with a letter or digit"
        )
    return username


def check_password(password: object) -> str:
    """Return `password` if it is acceptable (8 to 1024 characters); else raise `InvalidArgumentError`."""
    if not isinstance(password, str) or len(password) < MIN_PASSWORD_LENGTH:
        raise InvalidArgumentError(f"invalid password: at least {MIN_PASSWORD_LENGTH} characters")
    if len(password) > 1024:
        raise InvalidArgumentError("invalid password: at most 1024 characters")
    return password


def _check_name(name: object, what: str) -> str:
    if not isinstance(name, str) or not name.strip() or len(name) > _NAME_MAX:
        raise InvalidArgumentError(f"invalid {what}: 1 to {_NAME_MAX} characters")
    return name.strip()


class AuthStore:
    """Authentication and authorization rows over a store's engine (SQLite or PostgreSQL).

    Args:
        engine: the engine of a `SqlTraceStore` (migrated to revision 0006 or later).
    """

    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    # Principals -------------------------------------------------------------------------------------
    def create_user(self, username: str, password: str, *, is_admin: bool = False) -> Principal:
        """Create a user with a password.

        Raises:
            InvalidArgumentError: the username or password is not acceptable.
            ConflictError: a user or service principal has that name.
        """
        username = _check_username(username)
        password_hash = hash_password(check_password(password))
        return self._insert_principal(
            kind=USER, name=username, password_hash=password_hash, is_admin=int(is_admin), display_name=None
        )

    def create_service_principal(self, display_name: str, owner: Principal | None) -> tuple[Principal, str]:
        """Create a service principal; return it (its `name` is the client id) and its secret, shown once."""
        display_name = _check_name(display_name, "service principal name")
        client_id = "sp-" + new_secret()[:22].replace("_", "x").replace("-", "x").lower()
        secret = new_secret(CLIENT_SECRET_PREFIX)
        principal = self._insert_principal(
            kind=SERVICE_PRINCIPAL,
            name=client_id,
            secret_hash=digest(secret),
            display_name=display_name,
            owner_id=None if owner is None else owner.principal_id,
        )
        return principal, secret

    def _insert_principal(self, **values: Any) -> Principal:
        values["created_time"] = _now_ms()
        try:
            with translate_errors("create a principal"), write_transaction(self._engine) as connection:
                result = connection.execute(insert(auth_principals).values(**values))
                key = result.inserted_primary_key
                assert key is not None
                row = connection.execute(select(auth_principals).where(auth_principals.c.principal_id == key[0])).one()
        except ConflictError:
            raise ConflictError(f"a user or service principal named {values['name']!r} exists") from None
        return _principal(row)

    def set_password(self, username: str, password: str) -> None:
        """Change a user's password and end its UI sessions.

        Raises:
            NotFoundError: no such user.
        """
        password_hash = hash_password(check_password(password))
        with translate_errors("set a password"), write_transaction(self._engine) as connection:
            principal = self._by_name(connection, username)
            if principal is None or principal.kind != USER:
                raise NotFoundError(f"no user named {username!r}")
            connection.execute(
                update(auth_principals)
                .where(auth_principals.c.principal_id == principal.principal_id)
                .values(password_hash=password_hash)
            )
            connection.execute(delete(auth_sessions).where(auth_sessions.c.principal_id == principal.principal_id))

    @staticmethod
    def _by_name(connection: Any, name: str) -> Principal | None:
        row = connection.execute(select(auth_principals).where(auth_principals.c.name == name)).first()
        return None if row is None else _principal(row)

    def get_principal(self, name: str) -> Principal | None:
        """Return the user or service principal with this name (client id), if any."""
        with translate_errors("read a principal"), read_connection(self._engine) as connection:
            return self._by_name(connection, name)

    def get_principal_by_id(self, principal_id: int) -> Principal | None:
        """Return the principal with this id, if any."""
        with translate_errors("read a principal"), read_connection(self._engine) as connection:
            row = connection.execute(
                select(auth_principals).where(auth_principals.c.principal_id == principal_id)
            ).first()
        return None if row is None else _principal(row)

    def list_principals(self, kind: str | None = None, owner_id: int | None = None) -> list[Principal]:
        """Return principals by name, optionally of one kind or owned by one user."""
        query = select(auth_principals).order_by(auth_principals.c.name)
        if kind is not None:
            query = query.where(auth_principals.c.kind == kind)
        if owner_id is not None:
            query = query.where(auth_principals.c.owner_id == owner_id)
        with translate_errors("list principals"), read_connection(self._engine) as connection:
            return [_principal(row) for row in connection.execute(query)]

    def count_admins(self) -> int:
        """Return how many enabled admin users exist."""
        query = select(func.count()).where(
            and_(auth_principals.c.is_admin == 1, auth_principals.c.disabled == 0, auth_principals.c.kind == USER)
        )
        with translate_errors("count admins"), read_connection(self._engine) as connection:
            return int(connection.execute(query).scalar_one())

    def set_user_flags(self, username: str, *, active: bool | None = None, is_admin: bool | None = None) -> Principal:
        """Enable or disable a user, or give or take its admin rights; return the user as it is now.

        Disabling a user ends its UI sessions; its tokens stop working while it is disabled (every
        check of a token or session joins the principal's `disabled` flag), and work again if it is
        enabled again. Service principals it created are not affected.

        Raises:
            NotFoundError: no such user.
            ConflictError: the change would leave no enabled admin.
        """
        with translate_errors("change a user"), write_transaction(self._engine) as connection:
            principal = self._by_name(connection, username)
            if principal is None or principal.kind != USER:
                raise NotFoundError(f"no user named {username!r}")
            values: dict[str, int] = {}
            if active is not None:
                values["disabled"] = int(not active)
            if is_admin is not None:
                values["is_admin"] = int(is_admin)
            stays_admin = (not principal.disabled if active is None else active) and (
                principal.is_admin if is_admin is None else is_admin
            )
            if principal.is_admin and not principal.disabled and not stays_admin:
                self._keep_an_admin(connection, principal, "disable it or take its admin rights")
            if values:
                connection.execute(
                    update(auth_principals)
                    .where(auth_principals.c.principal_id == principal.principal_id)
                    .values(**values)
                )
            if active is False:
                connection.execute(delete(auth_sessions).where(auth_sessions.c.principal_id == principal.principal_id))
            changed = self._by_name(connection, username)
        assert changed is not None
        return changed

    @staticmethod
    def _keep_an_admin(connection: Any, leaving: Principal, change: str) -> None:
        """Refuse (ConflictError) a change that takes `leaving` out of the enabled admins if it is the last.

        The enabled admins' rows are locked (`FOR UPDATE` on PostgreSQL; SQLite's write transaction
        holds the database lock), so two admins demoting each other at once cannot both succeed.
        """
        admins = connection.execute(
            select(auth_principals.c.principal_id)
            .where(auth_principals.c.is_admin == 1, auth_principals.c.disabled == 0, auth_principals.c.kind == USER)
            .with_for_update()
        ).scalars()
        if not [pid for pid in admins if pid != leaving.principal_id]:
            raise ConflictError(f"{leaving.name!r} is the last enabled admin: make another admin before you {change}")

    def delete_principal(self, name: str) -> None:
        """Delete a principal with its tokens, sessions and permissions.

        Raises:
            NotFoundError: no such principal.
            ConflictError: it is the last enabled admin.
        """
        with translate_errors("delete a principal"), write_transaction(self._engine) as connection:
            principal = self._by_name(connection, name)
            if principal is None:
                raise NotFoundError(f"no user or service principal named {name!r}")
            if principal.kind == USER and principal.is_admin and not principal.disabled:
                self._keep_an_admin(connection, principal, "delete it")
            pid = principal.principal_id
            for table in (auth_tokens, auth_sessions, auth_permissions):
                connection.execute(delete(table).where(table.c.principal_id == pid))
            connection.execute(delete(auth_principals).where(auth_principals.c.principal_id == pid))

    def authenticate_password(self, username: str, password: str) -> Principal | None:
        """Return the enabled user with this username and password, else None (in about the same time)."""
        principal = self.get_principal(username) if isinstance(username, str) and len(username) <= 200 else None
        stored = None
        if principal is not None and principal.kind == USER and not principal.disabled:
            with translate_errors("read a password"), read_connection(self._engine) as connection:
                stored = connection.execute(
                    select(auth_principals.c.password_hash).where(
                        auth_principals.c.principal_id == principal.principal_id
                    )
                ).scalar_one_or_none()
        ok = verify_password(password, stored)
        return principal if ok and stored is not None else None

    def authenticate_client(self, client_id: str, client_secret: str) -> Principal | None:
        """Return the enabled service principal with this client id and secret, else None."""
        principal = self.get_principal(client_id) if len(client_id) <= 200 else None
        if principal is None or principal.kind != SERVICE_PRINCIPAL or principal.disabled:
            return None
        with translate_errors("read a client secret"), read_connection(self._engine) as connection:
            stored = connection.execute(
                select(auth_principals.c.secret_hash).where(auth_principals.c.principal_id == principal.principal_id)
            ).scalar_one_or_none()
        return principal if stored is not None and hmac.compare_digest(stored, digest(client_secret)) else None

    # Tokens -----------------------------------------------------------------------------------------
    def create_token(
        self, principal: Principal, name: str, *, expires_time_ms: int | None = None, kind: str = "personal"
    ) -> tuple[TokenInfo, str]:
        """Create a token for a principal; return its facts and the token itself (shown once)."""
        name = _check_name(name, "token name")
        if expires_time_ms is not None and expires_time_ms <= _now_ms():
            raise InvalidArgumentError("invalid token expiry: it must be in the future")
        secret = new_secret(PERSONAL_TOKEN_PREFIX if kind == "personal" else ACCESS_TOKEN_PREFIX)
        values = {
            "principal_id": principal.principal_id,
            "kind": kind,
            "name": name,
            "token_prefix": secret[:12],
            "token_hash": digest(secret),
            "created_time": _now_ms(),
            "expires_time": expires_time_ms,
        }
        with translate_errors("create a token"), write_transaction(self._engine) as connection:
            if kind == "access":
                # Expired access tokens are of no use to anyone: drop this principal's, so they never pile up.
                connection.execute(
                    delete(auth_tokens).where(
                        and_(
                            auth_tokens.c.principal_id == principal.principal_id,
                            auth_tokens.c.kind == "access",
                            auth_tokens.c.expires_time < values["created_time"],
                        )
                    )
                )
            key = connection.execute(insert(auth_tokens).values(**values)).inserted_primary_key
            assert key is not None
            row = connection.execute(select(auth_tokens).where(auth_tokens.c.token_id == key[0])).one()
        return _token(row), secret

    def principal_for_token(self, token: str) -> Principal | None:
        """Return the principal a valid (known, unrevoked, unexpired) token belongs to, else None."""
        now = _now_ms()
        query = (
            select(auth_principals)
            .join(auth_tokens, auth_tokens.c.principal_id == auth_principals.c.principal_id)
            .where(
                auth_tokens.c.token_hash == digest(token),
                auth_tokens.c.revoked_time.is_(None),
                or_(auth_tokens.c.expires_time.is_(None), auth_tokens.c.expires_time > now),
                auth_principals.c.disabled == 0,
            )
        )
        with translate_errors("check a token"), read_connection(self._engine) as connection:
            row = connection.execute(query).first()
        return None if row is None else _principal(row)

    def list_tokens(self, principal: Principal, kind: str = "personal") -> list[TokenInfo]:
        """Return a principal's tokens of one kind, newest first (revoked ones too)."""
        query = (
            select(auth_tokens)
            .where(auth_tokens.c.principal_id == principal.principal_id, auth_tokens.c.kind == kind)
            .order_by(auth_tokens.c.token_id.desc())
        )
        with translate_errors("list tokens"), read_connection(self._engine) as connection:
            return [_token(row) for row in connection.execute(query)]

    def revoke_token(self, token_id: int, owner: Principal | None) -> TokenInfo:
        """Revoke a token (of `owner`, or anyone's if None); revoking twice is harmless.

        Raises:
            NotFoundError: no such token (or not `owner`'s).
        """
        with translate_errors("revoke a token"), write_transaction(self._engine) as connection:
            query = select(auth_tokens).where(auth_tokens.c.token_id == token_id)
            if owner is not None:
                query = query.where(auth_tokens.c.principal_id == owner.principal_id)
            row = connection.execute(query).first()
            if row is None:
                raise NotFoundError(f"no token {token_id}")
            if row.revoked_time is None:
                connection.execute(
                    update(auth_tokens).where(auth_tokens.c.token_id == token_id).values(revoked_time=_now_ms())
                )
                row = connection.execute(query).one()
        return _token(row)

    # UI sessions -----------------------------------------------------------------------------------
    def create_session(self, principal: Principal, max_age_s: int) -> tuple[str, str]:
        """Start a UI session; return (session id, CSRF token). Expired sessions are purged on the way."""
        session_id = new_secret()
        csrf_token = new_secret()
        now = _now_ms()
        with translate_errors("create a session"), write_transaction(self._engine) as connection:
            connection.execute(delete(auth_sessions).where(auth_sessions.c.expires_time < now))
            connection.execute(
                insert(auth_sessions).values(
                    session_hash=digest(session_id),
                    principal_id=principal.principal_id,
                    csrf_token=csrf_token,
                    created_time=now,
                    expires_time=now + max_age_s * 1000,
                )
            )
        return session_id, csrf_token

    def session_principal(self, session_id: str) -> tuple[Principal, str] | None:
        """Return (principal, CSRF token) of a live session, else None."""
        query = (
            select(auth_principals, auth_sessions.c.csrf_token)
            .join(auth_sessions, auth_sessions.c.principal_id == auth_principals.c.principal_id)
            .where(
                auth_sessions.c.session_hash == digest(session_id),
                auth_sessions.c.expires_time > _now_ms(),
                auth_principals.c.disabled == 0,
            )
        )
        with translate_errors("check a session"), read_connection(self._engine) as connection:
            row = connection.execute(query).first()
        return None if row is None else (_principal(row), row.csrf_token)

    def end_session(self, session_id: str) -> None:
        """End a UI session (log out); an unknown one is ignored."""
        with translate_errors("end a session"), write_transaction(self._engine) as connection:
            connection.execute(delete(auth_sessions).where(auth_sessions.c.session_hash == digest(session_id)))

    # Permissions -----------------------------------------------------------------------------------
    def level(self, principal: Principal, resource_type: str, resource_id: str) -> str | None:
        """Return the principal's level on a resource (CAN_MANAGE for admins), or None."""
        if principal.is_admin:
            return "CAN_MANAGE"
        query = select(auth_permissions.c.level).where(
            auth_permissions.c.principal_id == principal.principal_id,
            auth_permissions.c.resource_type == resource_type,
            auth_permissions.c.resource_id == resource_id,
        )
        with translate_errors("read a permission"), read_connection(self._engine) as connection:
            level: str | None = connection.execute(query).scalar_one_or_none()
        return level

    def resources(self, principal: Principal, resource_type: str) -> dict[str, str]:
        """Return {resource id: level} of every resource of a type the principal holds a level on."""
        query = select(auth_permissions.c.resource_id, auth_permissions.c.level).where(
            auth_permissions.c.principal_id == principal.principal_id,
            auth_permissions.c.resource_type == resource_type,
        )
        with translate_errors("read permissions"), read_connection(self._engine) as connection:
            return {row.resource_id: row.level for row in connection.execute(query)}

    def grant(
        self, principal: Principal, resource_type: str, resource_id: str, level: str, granted_by: str | None
    ) -> Permission:
        """Give a principal a level on a resource (replacing the level it had)."""
        resource_type = check_resource_type(resource_type)
        level = check_level(level)
        now = _now_ms()
        key = and_(
            auth_permissions.c.principal_id == principal.principal_id,
            auth_permissions.c.resource_type == resource_type,
            auth_permissions.c.resource_id == resource_id,
        )
        with translate_errors("grant a permission"), write_transaction(self._engine) as connection:
            changed = connection.execute(
                update(auth_permissions).where(key).values(level=level, granted_by=granted_by, granted_time=now)
            ).rowcount
            if not changed:
                connection.execute(
                    insert(auth_permissions).values(
                        principal_id=principal.principal_id,
                        resource_type=resource_type,
                        resource_id=resource_id,
                        level=level,
                        granted_by=granted_by,
                        granted_time=now,
                    )
                )
        return Permission(principal.name, principal.kind, resource_type, resource_id, level, granted_by, now)

    def revoke(self, principal: Principal, resource_type: str, resource_id: str) -> bool:
        """Take away a principal's level on a resource; return whether it had one."""
        with translate_errors("revoke a permission"), write_transaction(self._engine) as connection:
            return bool(
                connection.execute(
                    delete(auth_permissions).where(
                        auth_permissions.c.principal_id == principal.principal_id,
                        auth_permissions.c.resource_type == resource_type,
                        auth_permissions.c.resource_id == resource_id,
                    )
                ).rowcount
            )

    def list_permissions(self, resource_type: str, resource_id: str) -> list[Permission]:
        """Return every grant on a resource, by principal name."""
        query = (
            select(auth_permissions, auth_principals.c.name, auth_principals.c.kind)
            .join(auth_principals, auth_principals.c.principal_id == auth_permissions.c.principal_id)
            .where(auth_permissions.c.resource_type == resource_type, auth_permissions.c.resource_id == resource_id)
            .order_by(auth_principals.c.name)
        )
        with translate_errors("list permissions"), read_connection(self._engine) as connection:
            return [
                Permission(
                    row.name, row.kind, row.resource_type, row.resource_id, row.level, row.granted_by, row.granted_time
                )
                for row in connection.execute(query)
            ]

    def forget_resource(self, resource_type: str, resource_id: str) -> int:
        """Delete every grant on a resource (it was deleted and its name may be reused); return how many."""
        with translate_errors("delete permissions"), write_transaction(self._engine) as connection:
            return int(
                connection.execute(
                    delete(auth_permissions).where(
                        auth_permissions.c.resource_type == resource_type, auth_permissions.c.resource_id == resource_id
                    )
                ).rowcount
            )

    # Audit log -------------------------------------------------------------------------------------
    def audit(
        self,
        actor: str | None,
        action: str,
        resource_type: str | None = None,
        resource_id: str | None = None,
        detail: Mapping[str, Any] | None = None,
        request_id: str | None = None,
    ) -> None:
        """Append an event to the audit log."""
        with translate_errors("write the audit log"), write_transaction(self._engine) as connection:
            connection.execute(
                insert(auth_audit_log).values(
                    time_ms=_now_ms(),
                    actor=actor,
                    action=action,
                    resource_type=resource_type,
                    resource_id=None if resource_id is None else str(resource_id)[:500],
                    detail=None if detail is None else json.dumps(dict(detail), default=str),
                    request_id=request_id,
                )
            )

    def audit_events(self, max_results: int = 100, before_id: int | None = None) -> list[AuditEvent]:
        """Return audit events, newest first, one page at a time (`before_id`: the last id of the previous page)."""
        query = select(auth_audit_log).order_by(auth_audit_log.c.event_id.desc()).limit(max_results)
        if before_id is not None:
            query = query.where(auth_audit_log.c.event_id < before_id)
        with translate_errors("read the audit log"), read_connection(self._engine) as connection:
            return [
                AuditEvent(
                    row.event_id,
                    row.time_ms,
                    row.actor,
                    row.action,
                    row.resource_type,
                    row.resource_id,
                    None if row.detail is None else json.loads(row.detail),
                    row.request_id,
                )
                for row in connection.execute(query)
            ]

    # Resources, as the permission checks see them --------------------------------------------------
    def experiment_stage(self, experiment_id: str) -> str | None:
        """Return an experiment's lifecycle stage (active, deleted), or None if there is no such experiment."""
        if not experiment_id.isascii() or not experiment_id.isdigit() or len(experiment_id) > 18:
            return None
        query = select(experiments.c.lifecycle_stage).where(experiments.c.experiment_id == int(experiment_id))
        with translate_errors("read an experiment"), read_connection(self._engine) as connection:
            stage: str | None = connection.execute(query).scalar_one_or_none()
        return stage

    def active_experiment_id(self, name: str) -> str | None:
        """Return the id of the active experiment with this name, if any."""
        query = select(experiments.c.experiment_id).where(
            experiments.c.name == name, experiments.c.lifecycle_stage == "active"
        )
        with translate_errors("read an experiment"), read_connection(self._engine) as connection:
            found = connection.execute(query).scalar_one_or_none()
        return None if found is None else str(found)

    def active_experiment_ids(self) -> set[str]:
        """Return the ids of every active experiment."""
        query = select(experiments.c.experiment_id).where(experiments.c.lifecycle_stage == "active")
        with translate_errors("list experiments"), read_connection(self._engine) as connection:
            return {str(found) for found in connection.execute(query).scalars()}

    def trace_experiments(self, trace_ids: list[str]) -> dict[str, str]:
        """Return {trace id: experiment id} for the traces that exist among `trace_ids`."""
        found: dict[str, str] = {}
        with translate_errors("read traces"), read_connection(self._engine) as connection:
            for start in range(0, len(trace_ids), 500):
                part = trace_ids[start : start + 500]
                query = select(traces.c.trace_id, traces.c.experiment_id).where(traces.c.trace_id.in_(part))
                found.update({row.trace_id: str(row.experiment_id) for row in connection.execute(query)})
        return found

    def model_exists(self, name: str) -> bool:
        """Return whether a registered model has this name."""
        query = select(registered_models.c.name).where(registered_models.c.name == name)
        with translate_errors("read a registered model"), read_connection(self._engine) as connection:
            return connection.execute(query).first() is not None
