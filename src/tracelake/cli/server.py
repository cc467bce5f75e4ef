"""`tracelake server`: serve the REST API and the OTLP endpoint over a store, with uvicorn.

Without `--database` the server opens the embedded store the SDK writes (`--home`, `TRACELAKE_HOME`
or `./tracelake-data`), so `tracelake server` over an app's folder shows that app's traces.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import socket
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from tracelake import _config
from tracelake.cli._errors import EXIT_FAILURE, EXIT_OK, CliError
from tracelake.exceptions import ConfigError

if TYPE_CHECKING:
    from tracelake.server import ServerSettings


def locate(args: argparse.Namespace) -> tuple[str, str]:
    """Return (database URL, default artifact root) from `--database`, `--tracking-uri` or `--home`.

    `--database` (or a tracking URI) may be a folder (the embedded layout), `sqlite:///…` or
    `postgresql://…`. Payloads default to `<home>/artifacts`, as in the SDK's embedded mode.
    """
    from tracelake._setup import resolve_destination

    home = _config.HOME.resolve(args.home, os.environ)
    uri = getattr(args, "database", None) or _config.TRACKING_URI.resolve(args.tracking_uri, os.environ)
    destination = resolve_destination(uri, home)
    if destination.is_remote:
        if getattr(args, "database", None):
            raise CliError(f"--database {uri!r} names a server, not a database", 2)
        # TRACELAKE_TRACKING_URI=http://… configures the apps that send to this server; the server
        # itself then serves the embedded store.
        destination = resolve_destination(None, home)
    return destination.database_url or "", destination.artifact_root or ""


def build_settings(args: argparse.Namespace) -> ServerSettings:
    """Return the `ServerSettings` the command line asks for."""
    from tracelake.server import ServerSettings

    database_url, artifact_root = locate(args)
    options: dict[str, Any] = {
        "database_url": database_url,
        "default_artifact_root": args.artifacts or artifact_root,
        "allowed_artifact_roots": tuple(args.allowed_artifact_root or ()),
        "host": args.host,
        "port": args.port,
        "workers": args.workers or default_workers(),
        # This process is the server's alone: see ServerSettings.freeze_gc.
        "freeze_gc": True,
    }
    if args.max_body_bytes is not None:
        options["max_body_bytes"] = args.max_body_bytes
    if args.ingest_queue is not None:
        options["ingest_queue_size"] = args.ingest_queue
    if getattr(args, "ingest_concurrency", None) is not None:
        options["ingest_concurrency"] = args.ingest_concurrency
    options["auth"] = auth_required(args.host, getattr(args, "auth", False), getattr(args, "insecure_no_auth", False))
    try:
        return ServerSettings(**options)
    except ConfigError as exc:
        raise CliError(f"invalid server setting: {exc}", 2) from None


#: The most server processes `tracelake server` starts by itself: past a few, on SQLite, they mostly
#: wait for the database's write lock, and each costs its own memory (about 90 MiB).
MAX_DEFAULT_WORKERS = 4


def default_workers() -> int:
    """One server process per CPU this process may run on, at most `MAX_DEFAULT_WORKERS`.

    A process decodes and normalises one OTLP request at a time (Python's GIL), so a second process
    is what puts a second core to work: on 2 cores, SQLite ingest goes from about 26,000 to
    36,000-40,000 spans/s (benchmarks/RESULTS.md).
    """
    try:
        cpus = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        cpus = os.cpu_count() or 1
    return max(1, min(cpus, MAX_DEFAULT_WORKERS))


def is_loopback(host: str) -> bool:
    """Whether `host` is a loopback address (or `localhost`): only this machine can connect."""
    import ipaddress

    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def auth_required(host: str, auth: bool, insecure_no_auth: bool) -> bool:
    """Whether the server must require authentication: asked for, or listening beyond loopback.

    Raises:
        CliError: both `--auth` and `--insecure-no-auth` were given.
    """
    if auth and insecure_no_auth:
        raise CliError("--auth and --insecure-no-auth contradict each other: give one", 2)
    return auth or (not insecure_no_auth and not is_loopback(host))


def _bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # IPPROTO_TCP spelled out: asyncio turns Nagle's algorithm off (TCP_NODELAY) only on sockets
    # whose proto says TCP, and accepted connections inherit this socket's. With proto 0, every
    # response after the first on a keep-alive connection waited ~40 ms for the client's delayed ACK.
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise CliError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    return sock


@contextlib.contextmanager
def _settings_in_environment(text: str) -> Iterator[None]:
    from tracelake.server.settings import SETTINGS_ENV

    previous = os.environ.get(SETTINGS_ENV)
    os.environ[SETTINGS_ENV] = text
    try:
        yield
    finally:
        if previous is None:
            os.environ.pop(SETTINGS_ENV, None)
        else:
            os.environ[SETTINGS_ENV] = previous


def run(args: argparse.Namespace) -> int:
    """Migrate the database, print the URL, and serve until interrupted."""
    import dataclasses

    import uvicorn
    from sqlalchemy.engine import make_url

    from tracelake.cli.db import migrate
    from tracelake.server import create_app
    from tracelake.version import __version__

    settings = build_settings(args)
    # Migrate before listening: a wrong URL or an unreachable database fails here, in one line.
    migrate(settings.database_url)
    sock = _bind(settings.host, settings.port)
    settings = dataclasses.replace(settings, port=sock.getsockname()[1])
    shown = make_url(settings.database_url).render_as_string(hide_password=True)
    print(f"tracelake server {__version__} listening on {settings.url}", flush=True)
    print(f"  REST API {settings.url}/api/v1 (docs: {settings.url}/api/v1/docs), OTLP {settings.url}/v1/traces")
    print(f"  database {shown}, artifacts {settings.default_artifact_root}", flush=True)
    processes = "1 server process" if settings.workers == 1 else f"{settings.workers} server processes"
    print(f"  {processes} (--workers)", flush=True)
    _print_auth(settings)
    log_level = "debug" if args.debug else "info"
    # uvicorn shuts down gracefully on SIGINT/SIGTERM, then re-raises the signal: a stop asked for is
    # a normal end (exit 0), not an interruption.
    previous = signal.signal(signal.SIGTERM, _stopped)
    try:
        if settings.workers == 1:
            server = uvicorn.Server(uvicorn.Config(create_app(settings), log_level=log_level, lifespan="on"))
            with sock:
                server.run(sockets=[sock])
            return EXIT_OK if server.started else EXIT_FAILURE
        # Worker processes build their own app (uvicorn imports it by name), from settings handed
        # over in the environment, and share the socket bound here: the port asked for (0 too) is
        # the one printed, and accepted connections keep TCP_NODELAY (see `_bind`).
        from uvicorn.supervisors import Multiprocess

        config = uvicorn.Config(
            "tracelake.server.app:create_app_from_environment",
            factory=True,
            workers=settings.workers,
            log_level=log_level,
            lifespan="on",
        )
        with sock, _settings_in_environment(settings.to_json()):
            Multiprocess(config, sockets=[sock]).run()
        return EXIT_OK
    except (KeyboardInterrupt, _Stopped):
        return EXIT_OK
    finally:
        signal.signal(signal.SIGTERM, previous)


def _print_auth(settings: ServerSettings) -> None:
    if not settings.auth:
        if not is_loopback(settings.host):
            print("  WARNING: authentication is OFF (--insecure-no-auth): anyone who can connect can read and write")
        return
    from tracelake.store.sql.auth import AuthStore
    from tracelake.store.sql.engine import create_store_engine

    engine = create_store_engine(settings.database_url)
    try:
        admins = AuthStore(engine).count_admins()
    finally:
        engine.dispose()
    print("  authentication ON: sign in at /ui/login, or send 'Authorization: Bearer <token>'", flush=True)
    if admins == 0:
        print("  no admin yet: create one with `tracelake users create-admin <name>`", flush=True)


class _Stopped(Exception):
    """SIGTERM arrived (after uvicorn's graceful shutdown)."""


def _stopped(signum: int, frame: object) -> None:
    raise _Stopped
