"""Endpoints started by `deploy` on this machine: their records, status, logs, and stopping them.

Each endpoint is a `tracelake serve` process. `deploy` writes `<TRACELAKE_HOME>/endpoints/<name>.json`
(pid, address, model, experiment, log file) once the endpoint answers `/health`; its output goes to
`<name>.log` next to it. `tracelake endpoints list|stop|logs` read these files, so an endpoint can be
stopped from another shell than the one that deployed it.

An endpoint deployed against a server with authentication has a service principal of its own
(`client_id` in its record). Stopping the endpoint deletes that principal on the server, with the
stopper's credentials (`TRACELAKE_TOKEN`, or `TRACELAKE_CLIENT_ID` + `TRACELAKE_CLIENT_SECRET`:
the deployer's or an admin's), so its secret and access tokens stop working at once.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import subprocess
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Final

from tracelake import _config
from tracelake.exceptions import ConfigError, NotFoundError, TracelakeError

__all__ = [
    "Endpoint",
    "ServicePrincipalCleanupError",
    "delete_service_principal",
    "endpoints_dir",
    "get_endpoint",
    "list_endpoints",
    "stop_endpoint",
]

ENDPOINTS_FOLDER: Final = "endpoints"
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,99}")


def check_endpoint_name(name: object) -> str:
    """Return `name` if it can name an endpoint (letters, digits, `_`, `.`, `-`); else raise `ConfigError`."""
    if not isinstance(name, str) or not _NAME.fullmatch(name) or name.endswith(".json"):
        raise ConfigError(
            f"invalid endpoint name {name!r}: use 1 to 100 letters, digits, '_', '.' or '-', starting with"
            " a letter or digit, e.g. 'support'"
        )
    return name


def endpoints_dir(home: str | None = None) -> Path:
    """The folder of endpoint records: `<home or TRACELAKE_HOME>/endpoints`."""
    root = Path(_config.HOME.resolve(home, _config.environ())).expanduser().resolve()
    return root / ENDPOINTS_FOLDER


@dataclass(frozen=True)
class Endpoint:
    """A serving endpoint started by `tracelake.agents.deploy`.

    Attributes:
        name: the endpoint's name (also stamped on its traces).
        url: where it answers, e.g. `http://127.0.0.1:8123` (the `openai` client's base URL is `url + "/v1"`).
        pid: the process id of its `tracelake serve` process.
        model_name: the registered model served.
        model_version: the version number served.
        model_uri: what was deployed, e.g. `models:/main.support.agent@champion`.
        experiment: the experiment receiving its traces.
        host: the address it listens on.
        port: the port it listens on.
        log_file: the file receiving its output.
        started_ms: when it started (ms since the epoch).
        tracking_uri: where its traces go.
        client_id: its own service principal on the tracking server (None without authentication).
    """

    name: str
    url: str
    pid: int
    model_name: str
    model_version: int
    model_uri: str
    experiment: str
    host: str
    port: int
    log_file: str
    started_ms: int
    tracking_uri: str | None = None
    client_id: str | None = None

    @property
    def running(self) -> bool:
        """Whether the endpoint's process is alive."""
        return endpoint_alive(self)

    def stop(self, timeout_s: float = 30.0) -> bool:
        """Stop the endpoint, delete its service principal and forget it; False if it had exited (`stop_endpoint`)."""
        return stop_endpoint(self.name, timeout_s=timeout_s, home=str(Path(self.log_file).parent.parent))

    def logs(self) -> str:
        """The endpoint's output so far."""
        try:
            return Path(self.log_file).read_text(encoding="utf-8", errors="replace")
        except FileNotFoundError:
            return ""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Endpoint:
        fields = cls.__dataclass_fields__
        return cls(**{key: value for key, value in data.items() if key in fields})


def record_path(name: str, home: str | None = None) -> Path:
    return endpoints_dir(home) / f"{check_endpoint_name(name)}.json"


def log_path(name: str, home: str | None = None) -> Path:
    return endpoints_dir(home) / f"{check_endpoint_name(name)}.log"


def write_record(endpoint: Endpoint, home: str | None = None) -> None:
    """Save an endpoint's record atomically (a reader never sees half a file)."""
    path = record_path(endpoint.name, home)
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_suffix(f".tmp-{os.getpid()}")
    temporary.write_text(json.dumps(endpoint.to_dict(), indent=2), encoding="utf-8")
    os.replace(temporary, path)


def _read(path: Path) -> Endpoint | None:
    try:
        return Endpoint.from_dict(json.loads(path.read_text(encoding="utf-8")))
    except (OSError, ValueError, TypeError):
        return None


def get_endpoint(name: str, home: str | None = None) -> Endpoint:
    """Return the record of an endpoint deployed on this machine.

    Raises:
        NotFoundError: no endpoint has this name (under this TRACELAKE_HOME).
    """
    endpoint = _read(record_path(name, home))
    if endpoint is None:
        raise NotFoundError(f"no endpoint named {name!r} (see 'tracelake endpoints list')")
    return endpoint


def list_endpoints(home: str | None = None) -> list[Endpoint]:
    """Return the endpoints deployed on this machine, by name (`.running` says whether each is alive)."""
    folder = endpoints_dir(home)
    if not folder.is_dir():
        return []
    found = (_read(path) for path in sorted(folder.glob("*.json")))
    return [endpoint for endpoint in found if endpoint is not None]


def forget_endpoint(name: str, home: str | None = None) -> None:
    """Delete an endpoint's record (its log file stays, for post-mortems)."""
    with contextlib.suppress(FileNotFoundError):
        record_path(name, home).unlink()


# Endpoint processes this process started: polled (not os.waitpid'ed behind their back) so that
# their exit status is collected and `Popen` does not warn that they are still running.
_children: dict[int, subprocess.Popen[bytes]] = {}


def adopt_child(process: subprocess.Popen[bytes]) -> None:
    """Keep the `Popen` of an endpoint this process started, to reap it when it exits."""
    _children[process.pid] = process


def process_alive(pid: int) -> bool:
    """Whether a process with this pid runs (a zombie child of ours is reaped and counts as gone)."""
    if pid <= 0:
        return False
    child = _children.get(pid)
    if child is not None:
        if child.poll() is None:
            return True
        del _children[pid]
        return False
    with contextlib.suppress(ChildProcessError, OSError):
        done, _ = os.waitpid(pid, os.WNOHANG)
        if done == pid:
            return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # alive, owned by someone else
    return True


def endpoint_alive(endpoint: Endpoint) -> bool:
    """Whether the endpoint's process runs: its pid is alive and, where `/proc` tells, still serves it.

    The command line check keeps a stale record whose pid was reused by another program from
    being reported running (and from being sent signals by `stop_endpoint`).
    """
    if not process_alive(endpoint.pid):
        return False
    try:
        command = Path(f"/proc/{endpoint.pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return True  # no /proc (macOS): trust the pid
    return endpoint.name.encode() in command and b"serve" in command


def _wait_gone(pid: int, timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while process_alive(pid):
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.05)
    return True


class ServicePrincipalCleanupError(TracelakeError):
    """An endpoint's service principal could not be deleted on the tracking server (the message says why)."""


def delete_service_principal(tracking_uri: str, client_id: str) -> None:
    """Delete an endpoint's service principal on the server, with this process's credentials.

    A principal that is gone already counts as deleted.

    Raises:
        ServicePrincipalCleanupError: the server refused (no or wrong credentials, not its owner) or
            could not be reached.
    """
    from tracelake.client import Client

    env = _config.environ()
    try:
        with Client(
            tracking_uri,
            token=_config.TOKEN.resolve(None, env),
            client_id=_config.CLIENT_ID.resolve(None, env),
            client_secret=_config.CLIENT_SECRET.resolve(None, env),
        ) as client:
            client.delete_service_principal(client_id)
    except NotFoundError:
        return  # deleted before (by an admin, or by a stop interrupted after the request)
    except TracelakeError as exc:
        raise ServicePrincipalCleanupError(
            f"could not delete the service principal {client_id} on {tracking_uri}: {exc}"
        ) from exc


def stop_endpoint(
    name: str, timeout_s: float = 30.0, home: str | None = None, *, keep_service_principal: bool = False
) -> bool:
    """Stop an endpoint: SIGTERM (a graceful shutdown that flushes its traces), SIGKILL after `timeout_s`.

    Then delete its service principal on the tracking server (if it has one), so that its client
    secret and access tokens stop working, and forget the endpoint.

    Args:
        name: the endpoint.
        timeout_s: how long to wait for a graceful shutdown.
        home: the folder of endpoint records (default: TRACELAKE_HOME).
        keep_service_principal: forget the endpoint without deleting its principal (for a server
            that is gone for good).

    Returns:
        True if a running process was stopped, False if it had already exited.

    Raises:
        NotFoundError: no endpoint has this name.
        ServicePrincipalCleanupError: the process is stopped but its principal could not be deleted;
            the record stays, so that stopping again retries.
    """
    endpoint = get_endpoint(name, home)
    was_running = endpoint_alive(endpoint)
    if was_running:
        with contextlib.suppress(ProcessLookupError):
            os.kill(endpoint.pid, signal.SIGTERM)
        if not _wait_gone(endpoint.pid, timeout_s):
            with contextlib.suppress(ProcessLookupError):
                os.kill(endpoint.pid, signal.SIGKILL)
            _wait_gone(endpoint.pid, 10.0)
    if endpoint.client_id and endpoint.tracking_uri and not keep_service_principal:
        try:
            delete_service_principal(endpoint.tracking_uri, endpoint.client_id)
        except ServicePrincipalCleanupError as exc:
            raise ServicePrincipalCleanupError(
                f"endpoint {name!r} is stopped, but {exc}. Set TRACELAKE_TOKEN to the deployer's (or an admin's)"
                f" token and run 'tracelake endpoints stop {name}' again, or add --keep-service-principal to"
                " forget the endpoint anyway"
            ) from exc
    forget_endpoint(name, home)
    return was_running
