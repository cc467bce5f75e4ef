"""`tracelake users …` (on the server's database) and `tracelake permissions …` (through a server's REST API).

Users are managed on the database itself, like `tracelake db upgrade`: the first admin must exist
before anyone can sign in. `users list | disable | enable | set-admin` also work through a server
(`--tracking-uri http(s)://…` and no `--database`) with an admin's credentials. Permissions go
through the server with the caller's credentials (`TRACELAKE_TOKEN`, or `TRACELAKE_CLIENT_ID` +
`TRACELAKE_CLIENT_SECRET`), so the server checks them. `server_client` is how every command that
can talk to a server gets its client.
"""

from __future__ import annotations

import argparse
import getpass
import os
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

from tracelake import _config
from tracelake.cli._errors import EXIT_OK, CliError

if TYPE_CHECKING:
    from tracelake.client import Client
    from tracelake.store.sql.auth import AuthStore


@contextmanager
def _auth_store(args: argparse.Namespace) -> Iterator[AuthStore]:
    from tracelake.cli.db import migrate
    from tracelake.cli.server import locate
    from tracelake.store.sql.auth import AuthStore
    from tracelake.store.sql.engine import create_store_engine

    database_url, _ = locate(args)
    migrate(database_url)
    engine = create_store_engine(database_url)
    try:
        yield AuthStore(engine)
    finally:
        engine.dispose()


def _password(args: argparse.Namespace) -> str:
    if args.password_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    if not sys.stdin.isatty():
        raise CliError("no terminal to ask for the password: pass --password-stdin and write it to stdin", 2)
    first = getpass.getpass("Password: ")
    if getpass.getpass("Password again: ") != first:
        raise CliError("the passwords differ")
    return first


def _create(args: argparse.Namespace, *, admin: bool) -> int:
    password = _password(args)
    with _auth_store(args) as store:
        user = store.create_user(args.username, password, is_admin=admin)
        store.audit(None, "user.create", "user", user.name, {"is_admin": user.is_admin, "via": "cli"})
    print(f"Created {'admin ' if user.is_admin else ''}user {user.name}.")
    return EXIT_OK


def create_admin(args: argparse.Namespace) -> int:
    """Create an admin user on the database (works before the server has any user)."""
    return _create(args, admin=True)


def create(args: argparse.Namespace) -> int:
    """Create a user on the database."""
    return _create(args, admin=args.admin)


def set_password(args: argparse.Namespace) -> int:
    """Change a user's password."""
    password = _password(args)
    with _auth_store(args) as store:
        store.set_password(args.username, password)
        store.audit(None, "user.password", "user", args.username, {"via": "cli"})
    print(f"Changed the password of {args.username}.")
    return EXIT_OK


def _users_client(args: argparse.Namespace) -> Client | None:
    """A client of the server when the tracking URI names one and `--database` does not override it."""
    return None if getattr(args, "database", None) else server_client(args)


def list_users(args: argparse.Namespace) -> int:
    """Print users and service principals (through a server: its users), one per line."""
    client = _users_client(args)
    if client is not None:
        with client:
            for user in client.list_users():
                flags = (" admin" if user.is_admin else "") + ("" if user.active else " disabled")
                print(f"{'user':<17} {user.name}{flags}")
        return EXIT_OK
    with _auth_store(args) as store:
        principals = store.list_principals()
    for principal in principals:
        flags = " admin" if principal.is_admin else ""
        flags += " disabled" if principal.disabled else ""
        extra = f" ({principal.display_name})" if principal.display_name else ""
        print(f"{principal.kind:<17} {principal.name}{extra}{flags}")
    return EXIT_OK


def _change_user(args: argparse.Namespace, *, active: bool | None = None, is_admin: bool | None = None) -> None:
    client = _users_client(args)
    if client is not None:
        with client:
            client.update_user(args.username, active=active, is_admin=is_admin)
        return
    with _auth_store(args) as store:
        before = store.get_principal(args.username)
        store.set_user_flags(args.username, active=active, is_admin=is_admin)
        if before is None:
            return
        if active is not None and active == before.disabled:
            store.audit(None, "user.enable" if active else "user.disable", "user", args.username, {"via": "cli"})
        if is_admin is not None and is_admin != before.is_admin:
            action = "user.admin_grant" if is_admin else "user.admin_revoke"
            store.audit(None, action, "user", args.username, {"via": "cli"})


def disable(args: argparse.Namespace) -> int:
    """Disable a user: it cannot sign in, and its sessions and tokens stop working at once."""
    _change_user(args, active=False)
    print(f"Disabled user {args.username}: its sessions and tokens no longer work.")
    return EXIT_OK


def enable(args: argparse.Namespace) -> int:
    """Enable a disabled user again (its unexpired tokens work again; it signs in anew)."""
    _change_user(args, active=True)
    print(f"Enabled user {args.username}.")
    return EXIT_OK


def set_admin(args: argparse.Namespace) -> int:
    """Give a user admin rights, or take them away (`--remove`); the last enabled admin keeps them."""
    _change_user(args, is_admin=not args.remove)
    print(f"{args.username} is {'no longer' if args.remove else 'now'} an admin.")
    return EXIT_OK


def create_token(args: argparse.Namespace) -> int:
    """Create a personal access token for a user and print it (once) on stdout."""
    expires = None if args.expires_in is None else time.time_ns() // 1_000_000 + args.expires_in
    with _auth_store(args) as store:
        principal = store.get_principal(args.username)
        if principal is None or principal.kind != "user":
            raise CliError(f"no user named {args.username!r}")
        info, token = store.create_token(principal, args.name, expires_time_ms=expires)
        store.audit(None, "token.create", "token", str(info.token_id), {"name": info.name, "via": "cli"})
    print(token)
    print("Keep it secret: it is shown only once. Use it as TRACELAKE_TOKEN.", file=sys.stderr)
    return EXIT_OK


def server_client(args: argparse.Namespace) -> Client | None:
    """Return a client of the server the tracking URI names, or None when it names a local store.

    Credentials come from the environment: `TRACELAKE_TOKEN`, or `TRACELAKE_CLIENT_ID` and
    `TRACELAKE_CLIENT_SECRET`.
    """
    from tracelake.client import Client

    env = os.environ
    uri = _config.TRACKING_URI.resolve(args.tracking_uri, env)
    if not uri or not uri.startswith(("http://", "https://")):
        return None
    return Client(
        uri,
        token=_config.TOKEN.resolve(None, env),
        client_id=_config.CLIENT_ID.resolve(None, env),
        client_secret=_config.CLIENT_SECRET.resolve(None, env),
    )


def _client(args: argparse.Namespace) -> Client:
    client = server_client(args)
    if client is None:
        raise CliError("permissions live on a server: pass --tracking-uri http(s)://… or set TRACELAKE_TRACKING_URI", 2)
    return client


def _target(args: argparse.Namespace) -> tuple[str, str]:
    return ("experiment", args.experiment_id) if args.experiment_id else ("registered_model", args.model)


def permissions_list(args: argparse.Namespace) -> int:
    """Print the grants on an experiment or model."""
    with _client(args) as client:
        for grant in client.list_permissions(*_target(args)):
            print(f"{grant['level']:<11} {grant['principal_kind']:<17} {grant['principal']}")
    return EXIT_OK


def permissions_grant(args: argparse.Namespace) -> int:
    """Give a principal a level."""
    resource_type, resource_id = _target(args)
    with _client(args) as client:
        client.grant_permission(resource_type, resource_id, args.principal, args.level)
    print(f"{args.principal} now holds {args.level} on {resource_type} {resource_id}.")
    return EXIT_OK


def permissions_revoke(args: argparse.Namespace) -> int:
    """Take a principal's level away."""
    resource_type, resource_id = _target(args)
    with _client(args) as client:
        client.revoke_permission(resource_type, resource_id, args.principal)
    print(f"{args.principal} no longer holds a level on {resource_type} {resource_id}.")
    return EXIT_OK
