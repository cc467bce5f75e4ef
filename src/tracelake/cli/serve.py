"""`tracelake serve`: run an agent's serving endpoint in the foreground (e.g. as a container's command).

The endpoint answers `POST /v1/responses` (point the `openai` client at `<url>/v1`), `POST
/invocations`, `POST /feedback` and `GET /health`, and traces every request to the experiment given
with `--experiment`, in the store or server named by `--home` / `--tracking-uri` (or their
`TRACELAKE_*` variables).
"""

from __future__ import annotations

import argparse
import json
import signal
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tracelake.cli._errors import EXIT_FAILURE, EXIT_OK, CliError
from tracelake.cli.server import _bind
from tracelake.exceptions import ConfigError

if TYPE_CHECKING:
    from tracelake.agents import ResponsesAgent
    from tracelake.agents.serving import EndpointSettings


def read_config(path: str | None) -> dict[str, Any]:
    """Return the agent config in the JSON file `path` (an object), or {} without a file."""
    if path is None:
        return {}
    try:
        value = json.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        raise CliError(f"cannot read --config {path!r}: {exc.strerror or exc}", 2) from None
    except json.JSONDecodeError as exc:
        raise CliError(f"--config {path!r} is not valid JSON: {exc}", 2) from None
    if not isinstance(value, dict):
        raise CliError(f"--config {path!r} must hold a JSON object", 2)
    return value


def build_endpoint(args: argparse.Namespace) -> tuple[ResponsesAgent, EndpointSettings]:
    """Load the agent the command line names and return it with the endpoint's settings."""
    from tracelake.agents import load_agent_from_file
    from tracelake.agents.serving import EndpointSettings

    model_name, model_version = args.model_name, args.model_version
    if getattr(args, "model", None):
        # A registered version (`--model models:/name/3`): the registry's package and config.
        from tracelake.cli.models import load_registered_agent

        config = read_config(args.config) if args.config else None
        agent, model_name, model_version = load_registered_agent(args, config)
    else:
        agent = load_agent_from_file(Path(args.agent_file), read_config(args.config))
    try:
        settings = EndpointSettings(
            endpoint_name=args.endpoint_name,
            model_name=model_name,
            model_version=model_version,
            experiment_name=args.experiment,
            experiment_id=args.experiment_id,
            tracking_uri=args.tracking_uri,
            home=args.home,
            environment=args.environment,
            tracing=not args.no_tracing,
            freeze_gc=True,  # this process serves the endpoint alone
            max_threads=args.max_threads,
        )
    except ConfigError as exc:
        raise CliError(f"invalid endpoint setting: {exc}", 2) from None
    return agent, settings


def run(args: argparse.Namespace) -> int:
    """Load the agent, print the URL, and serve until interrupted."""
    import uvicorn

    from tracelake.agents.serving import create_endpoint_app

    agent, settings = build_endpoint(args)
    sock = _bind(args.host, args.port)
    port = sock.getsockname()[1]
    host = f"[{args.host}]" if ":" in args.host else args.host
    url = f"http://{host}:{port}"
    print(f"tracelake serve: endpoint {settings.endpoint_name!r} listening on {url}", flush=True)
    print(f"  OpenAI base URL {url}/v1, also {url}/invocations, {url}/feedback, {url}/health", flush=True)
    log_level = "debug" if args.debug else "info"
    previous = signal.signal(signal.SIGTERM, _stopped)
    try:
        app = create_endpoint_app(agent, settings)
        server = uvicorn.Server(uvicorn.Config(app, log_level=log_level, lifespan="on"))
        with sock:
            server.run(sockets=[sock])
        return EXIT_OK if server.started else EXIT_FAILURE
    except (KeyboardInterrupt, _Stopped):
        return EXIT_OK
    finally:
        signal.signal(signal.SIGTERM, previous)


class _Stopped(Exception):
    """SIGTERM arrived (after uvicorn's graceful shutdown)."""


def _stopped(signum: int, frame: object) -> None:
    raise _Stopped
