"""`tracelake users …` (on the server's database) and `tracelake permissions …` (through a server's REST API).

Users are managed on the database itself, like `tracelake db upgrade`: the first admin must exist
before anyone can sign in. Permissions go through the server with the caller's credentials
(`TRACELAKE_TOKEN`, or `TRACELAKE_CLIENT_ID` + `TRACELAKE_CLIENT_SECRET`), so the server checks them.
"""

from __future__ import annotations

import argparse
import getpass
import os
import sys
import time
from typing import Any

from tracelake import _config
from tracelake.cli._errors import EXIT_OK, CliError


def _auth_store(args: argparse.Namespace) -> Any:
    from tracelake.cli.db import migrate
    from tracelake.cli.server import locate
    from tracelake.store.sql.auth import AuthStore
    from tracelake.store.sql.engine import create_store_engine

    database_url, _ = locate(args)
    migrate(database_url)
    return AuthStore(create_store_engine(database_url))


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
    store = _auth_store(args)
    user = store.create_user(args.username, _password(args), is_admin=admin)
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
    store = _auth_store(args)
    store.set_password(args.username, _password(args))
    store.audit(None, "user.password", "user", args.username, {"via": "cli"})
    print(f"Changed the password of {args.username}.")
    return EXIT_OK


def list_users(args: argparse.Namespace) -> int:
    """Print users and service principals, one per line."""
    for principal in _auth_store(args).list_principals():
        flags = " admin" if principal.is_admin else ""
        flags += " disabled" if principal.disabled else ""
        extra = f" ({principal.display_name})" if principal.display_name else ""
        print(f"{principal.kind:<17} {principal.name}{extra}{flags}")
    return EXIT_OK


def create_token(args: argparse.Namespace) -> int:
    """Create a personal access token for a user and print it (once) on stdout."""
    store = _auth_store(args)
    principal = store.get_principal(args.username)
    if principal is None or principal.kind != "user":
        raise CliError(f"no user named {args.username!r}")
    expires = None if args.expires_in is None else time.time_ns() // 1_000_000 + args.expires_in
    info, token = store.create_token(principal, args.name, expires_time_ms=expires)
    store.audit(None, "token.create", "token", str(info.token_id), {"name": info.name, "via": "cli"})
    print(token)
    print("Keep it secret: it is shown only once. Use it as TRACELAKE_TOKEN.", file=sys.stderr)
    return EXIT_OK


def _client(args: argparse.Namespace) -> Any:
    from tracelake.client import Client

    env = os.environ
    uri = _config.TRACKING_URI.resolve(args.tracking_uri, env)
    if not uri or not uri.startswith(("http://", "https://")):
        raise CliError("permissions live on a server: pass --tracking-uri http(s)://… or set TRACELAKE_TRACKING_URI", 2)
    return Client(
        uri,
        token=_config.TOKEN.resolve(None, env),
        client_id=_config.CLIENT_ID.resolve(None, env),
        client_secret=_config.CLIENT_SECRET.resolve(None, env),
    )


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
