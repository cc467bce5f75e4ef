"""`deploy`: start a serving endpoint for a registered agent version as a process of its own.

```python
endpoint = tracelake.agents.deploy("main.support.agent@champion", endpoint_name="support",
                                   experiment="support-agent")
openai.OpenAI(base_url=endpoint.url + "/v1", api_key="unused").responses.create(model="support", input="hi")
```

The endpoint is `python -m tracelake.cli serve --model models:/<name>/<version> …`, started in a new
session (it outlives the deploying process), with the deployer's tracking destination in its
environment: its traces land where the deployer's own traces and registry are. An alias is resolved
once, at deploy time: moving `@champion` later does not change what a running endpoint serves.
"""

from __future__ import annotations

import logging
import os
import socket
import subprocess
import sys
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Final

import httpx

from tracelake import _setup
from tracelake.agents import endpoints as ep
from tracelake.agents.endpoints import Endpoint
from tracelake.agents.registry import resolve_model
from tracelake.exceptions import ConfigError, ConflictError, TracelakeError

__all__ = ["DEFAULT_START_TIMEOUT_S", "EndpointStartError", "deploy"]

logger = logging.getLogger("tracelake.agents")

#: How long `deploy` waits for the endpoint's `/health` to answer.
DEFAULT_START_TIMEOUT_S: Final = 60.0
_LOG_TAIL_CHARS = 3000


class EndpointStartError(TracelakeError):
    """The endpoint process exited or did not answer in time; the message holds the end of its log."""


def _free_port(host: str) -> int:
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def tracking_environment() -> dict[str, str]:
    """The TRACELAKE_* variables that point a child process at this process's tracking destination."""
    _setup.get_backend()  # configures from the environment if nothing did yet
    destination = _setup._destination  # the resolved destination, whatever configured it
    if destination is None:
        raise ConfigError("tracelake has no tracking destination to deploy against (tracing goes to a test sink)")
    if destination.server_url is not None:
        return {"TRACELAKE_TRACKING_URI": destination.server_url}
    environment = {"TRACELAKE_TRACKING_URI": destination.database_url or ""}
    if destination.artifact_root:
        # A SQL destination keeps payloads in <home>/artifacts: the child derives the same root.
        environment["TRACELAKE_HOME"] = str(Path(destination.artifact_root).parent)
    return environment


def endpoint_credentials(endpoint_name: str, experiment: str, model_name: str) -> dict[str, str]:
    """Give an endpoint its own service principal when the tracking server requires authentication.

    `tracelake.agents.stop_endpoint` deletes it again (and `deploy` does when the endpoint fails to start).

    The principal gets CAN_EDIT on the endpoint's experiment (created if missing) and CAN_READ on the
    registered model it serves (to load its package), nothing else; the deployer needs CAN_MANAGE on
    both to grant them. Returns its `TRACELAKE_CLIENT_ID` and `TRACELAKE_CLIENT_SECRET`, or {} for an
    embedded store or a server without auth.
    """
    from tracelake.exceptions import NotFoundError

    client = getattr(_setup.get_backend(), "client", None)
    if client is None:
        return {}
    try:
        if not client.whoami().get("auth_enabled"):
            return {}
    except NotFoundError:  # a server from before authentication existed
        return {}
    found = client.get_experiment_by_name(experiment) or client.create_experiment(experiment)
    created = client.create_service_principal(f"endpoint {endpoint_name}")
    client_id = created["client_id"]
    try:
        client.grant_permission("experiment", found.experiment_id, client_id, "CAN_EDIT")
        client.grant_permission("registered_model", model_name, client_id, "CAN_READ")
    except BaseException:
        _revoke_quietly(client_id)  # e.g. the deployer lacks CAN_MANAGE on the model: leave nothing behind
        raise
    return {"TRACELAKE_CLIENT_ID": client_id, "TRACELAKE_CLIENT_SECRET": created["client_secret"]}


def _url(host: str, port: int) -> str:
    shown = "127.0.0.1" if host in ("0.0.0.0", "") else ("[::1]" if host == "::" else host)
    if ":" in shown and not shown.startswith("["):
        shown = f"[{shown}]"
    return f"http://{shown}:{port}"


def deploy(
    model: str,
    endpoint_name: str,
    experiment: str,
    *,
    port: int | None = None,
    host: str = "127.0.0.1",
    replace: bool = False,
    env: Mapping[str, str] | None = None,
    start_timeout_s: float = DEFAULT_START_TIMEOUT_S,
    home: str | None = None,
) -> Endpoint:
    """Start a serving endpoint for a registered agent version and wait until it answers.

    Args:
        model: the version: `name@champion`, `name/3`, `models:/name/3`, `name@latest`.
        endpoint_name: the endpoint's name, stamped on every trace it records.
        experiment: the experiment receiving its traces (created if missing).
        port: the port to listen on (default: a free one).
        host: the address to listen on.
        replace: stop a running endpoint of the same name first (otherwise that is an error).
        env: extra environment variables for the endpoint process (e.g. an LLM's API key).
        start_timeout_s: how long to wait for `/health` to answer.
        home: the folder of endpoint records and logs (default: TRACELAKE_HOME).

    Returns:
        The running endpoint (`.url`, `.pid`, `.model_version`, `.stop()`).

    Raises:
        ConfigError: an argument is invalid.
        NotFoundError: the model, version or alias does not exist.
        ConflictError: an endpoint with this name is running and `replace` is False.
        EndpointStartError: the process exited or did not answer in time (its log's end is in the message).
    """
    name = ep.check_endpoint_name(endpoint_name)
    if not isinstance(experiment, str) or not experiment.strip():
        raise ConfigError("experiment: name the experiment that receives the endpoint's traces")
    version = resolve_model(model)
    existing = _existing(name, home)
    if existing is not None and ep.endpoint_alive(existing):
        if not replace:
            raise ConflictError(
                f"an endpoint named {name!r} is running ({existing.model_uri}, pid {existing.pid}, {existing.url}):"
                " stop it first ('tracelake endpoints stop') or deploy with replace=True"
            )
        ep.stop_endpoint(name, home=home)
    port = _free_port(host) if port is None else port
    log_file = ep.log_path(name, home)
    log_file.parent.mkdir(parents=True, exist_ok=True)
    pinned = version.uri  # the alias is resolved now: a running endpoint never changes version by itself
    command = [sys.executable, "-m", "tracelake.cli", "serve", "--model", pinned, "--endpoint-name", name]
    command += ["--experiment", experiment, "--host", host, "--port", str(port)]
    child_env = {**os.environ, **tracking_environment(), **(env or {})}
    child_env.pop("TRACELAKE_EXPERIMENT_ID", None)  # --experiment decides
    credentials = endpoint_credentials(name, experiment, version.name)
    client_id = credentials.get("TRACELAKE_CLIENT_ID")
    if credentials:
        # The endpoint acts as itself, never with the deployer's own token.
        child_env.pop("TRACELAKE_TOKEN", None)
        child_env.update(credentials)
    try:
        with open(log_file, "ab") as log:
            log.write(f"--- {time.strftime('%Y-%m-%d %H:%M:%S')} {' '.join(command)}\n".encode())
            log.flush()
            process = subprocess.Popen(
                command,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=child_env,
                start_new_session=True,  # the endpoint outlives the deploying process (and its Ctrl-C)
            )
        ep.adopt_child(process)
        url = _url(host, port)
        endpoint = Endpoint(
            name=name,
            url=url,
            pid=process.pid,
            model_name=version.name,
            model_version=version.version,
            model_uri=model if model.startswith("models:/") else f"models:/{model}",
            experiment=experiment,
            host=host,
            port=port,
            log_file=str(log_file),
            started_ms=time.time_ns() // 1_000_000,
            tracking_uri=child_env.get("TRACELAKE_TRACKING_URI"),
            client_id=client_id,
        )
        _wait_healthy(process, url, log_file, start_timeout_s)
        ep.write_record(endpoint, home)
        return endpoint
    except BaseException:
        # An endpoint that never served must not leave working credentials behind.
        if client_id is not None:
            _revoke_quietly(client_id)
        raise


def _revoke_quietly(client_id: str) -> None:
    client = getattr(_setup.get_backend(), "client", None)
    if client is None:
        return
    try:
        client.delete_service_principal(client_id)
    except Exception as exc:  # the start failure is the error to report; say what is left behind
        logger.warning("tracelake: could not delete the service principal %s of a failed deploy: %s", client_id, exc)


def _existing(name: str, home: str | None) -> ep.Endpoint | None:
    try:
        return ep.get_endpoint(name, home)
    except TracelakeError:
        return None


def _log_tail(log_file: Path) -> str:
    try:
        text = log_file.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return ""
    text = text.strip()
    return text if len(text) <= _LOG_TAIL_CHARS else "…" + text[-_LOG_TAIL_CHARS:]


def _wait_healthy(process: subprocess.Popen[bytes], url: str, log_file: Path, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    with httpx.Client(timeout=2.0) as client:
        while True:
            status = process.poll()
            if status is not None:
                raise EndpointStartError(
                    f"the endpoint process exited with status {status} before answering; its log ({log_file}):\n"
                    + _log_tail(log_file)
                )
            try:
                if client.get(url + "/health").status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            if time.monotonic() >= deadline:
                process.terminate()
                try:
                    process.wait(10)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait(10)
                raise EndpointStartError(
                    f"the endpoint did not answer {url}/health within {timeout_s:g} s; its log ({log_file}):\n"
                    + _log_tail(log_file)
                )
            time.sleep(0.1)
