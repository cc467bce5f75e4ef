"""`tracelake deploy` and `tracelake endpoints list | stop | logs`: serving endpoints on this machine.

Endpoint records live under `--home` (`<home>/endpoints/`); `deploy` resolves the model through the
configured backend (`--home` or `--tracking-uri`), and the endpoint sends its traces there too.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table
from rich.text import Text

from tracelake import _config
from tracelake.cli import _sdk
from tracelake.cli._errors import EXIT_OK, CliError
from tracelake.cli._render import format_time


def _home(args: argparse.Namespace) -> str:
    return _config.HOME.resolve(args.home, _config.environ())


def deploy(args: argparse.Namespace) -> int:
    """Start a serving endpoint for a registered agent version and print where it answers."""
    _sdk.configure(args)
    from tracelake.agents.deployment import deploy as start

    env: dict[str, str] = {}
    for item in args.env or []:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise CliError(f"--env: expected KEY=VALUE, got {item!r}")
        env[key] = value
    endpoint = start(
        args.model,
        endpoint_name=args.endpoint_name,
        experiment=args.experiment,
        port=args.port,
        host=args.host,
        replace=args.replace,
        env=env,
        start_timeout_s=args.timeout,
        home=_home(args),
    )
    if args.json:
        sys.stdout.write(json.dumps(endpoint.to_dict()) + "\n")
        return EXIT_OK
    print(f"Endpoint {endpoint.name!r} serves {endpoint.model_name} version {endpoint.model_version}")
    print(f"  url:        {endpoint.url}  (OpenAI base URL: {endpoint.url}/v1)")
    print(f"  pid:        {endpoint.pid}")
    print(f"  experiment: {endpoint.experiment}")
    print(f"  log:        {endpoint.log_file}")
    print(f"Stop it with: tracelake endpoints stop {endpoint.name}")
    return EXIT_OK


def list_endpoints(args: argparse.Namespace) -> int:
    """List the endpoints deployed from this home, running or not."""
    from tracelake.agents.endpoints import list_endpoints as found_endpoints

    endpoints = found_endpoints(_home(args))
    if args.json:
        for endpoint in endpoints:
            sys.stdout.write(json.dumps({**endpoint.to_dict(), "running": endpoint.running}) + "\n")
        return EXIT_OK
    console = Console()
    if not endpoints:
        console.print("No endpoints. Start one with: tracelake deploy NAME@ALIAS --endpoint-name N --experiment E")
        return EXIT_OK
    table = Table(box=None, header_style="bold", pad_edge=False)
    for column in ("name", "status", "model", "version", "url", "pid", "experiment", "started"):
        table.add_column(column, no_wrap=True)
    for endpoint in endpoints:
        status = Text("running", style="green") if endpoint.running else Text("exited", style="red")
        table.add_row(
            Text(endpoint.name),
            status,
            Text(endpoint.model_name),
            str(endpoint.model_version),
            endpoint.url,
            str(endpoint.pid),
            Text(endpoint.experiment),
            format_time(endpoint.started_ms),
        )
    console.print(table)
    return EXIT_OK


def stop(args: argparse.Namespace) -> int:
    """Stop an endpoint (waiting for it to flush its traces), delete its service principal and forget it."""
    from tracelake.agents.endpoints import get_endpoint, stop_endpoint

    client_id = get_endpoint(args.name, _home(args)).client_id
    keep = args.keep_service_principal
    was_running = stop_endpoint(args.name, timeout_s=args.timeout, home=_home(args), keep_service_principal=keep)
    print(f"Stopped endpoint {args.name!r}." if was_running else f"Endpoint {args.name!r} had exited; forgot it.")
    if client_id and keep:
        print(f"Its service principal {client_id} still exists on the server: delete it there when you can.")
    elif client_id:
        print(f"Deleted its service principal {client_id}: its credentials no longer work.")
    return EXIT_OK


def logs(args: argparse.Namespace) -> int:
    """Print an endpoint's log (the last `--tail` lines); with `--follow`, keep printing new lines."""
    from tracelake.agents.endpoints import get_endpoint, log_path

    try:
        path = Path(get_endpoint(args.name, _home(args)).log_file)
    except Exception:
        path = log_path(args.name, _home(args))  # a stopped endpoint's log stays after its record
    if not path.is_file():
        raise CliError(f"no log for an endpoint named {args.name!r} (see 'tracelake endpoints list')")
    with path.open("r", encoding="utf-8", errors="replace") as handle:
        lines = handle.readlines()
        start = max(0, len(lines) - args.tail) if args.tail else 0
        sys.stdout.writelines(lines[start:])
        sys.stdout.flush()
        while args.follow:
            line = handle.readline()
            if line:
                sys.stdout.write(line)
                sys.stdout.flush()
            else:
                time.sleep(0.2)
    return EXIT_OK
