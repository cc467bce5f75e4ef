"""A real `tracelake server --auth` app on loopback (uvicorn in a thread), and principals to call it with.

Users, tokens and grants are set up directly in the server's database (`AuthStore` over the same
engine), the way `tracelake users …` does; the tests then act over HTTP only.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from postgres_db import BACKENDS, postgres_database
from tracelake.server import ServerSettings, create_app
from tracelake.store import SqlTraceStore
from tracelake.store.sql.auth import AuthStore, Principal

PASSWORD = "correct horse battery"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class AuthServer:
    """A running server with auth on, and direct access to its database for setting up."""

    url: str
    settings: ServerSettings
    store: SqlTraceStore
    auth: AuthStore
    tokens: dict[str, str] = field(default_factory=dict)

    def user(self, name: str, *, admin: bool = False) -> str:
        """Create a user (password `PASSWORD`) with a personal access token; return the token."""
        principal = self.auth.create_user(name, PASSWORD, is_admin=admin)
        _, token = self.auth.create_token(principal, "test")
        self.tokens[name] = token
        return token

    def principal(self, name: str) -> Principal:
        found = self.auth.get_principal(name)
        assert found is not None
        return found

    def grant(self, name: str, experiment_id: str, level: str) -> None:
        self.auth.grant(self.principal(name), "experiment", experiment_id, level, "test")

    def client(self, token: str | None = None, **kwargs: Any) -> httpx.Client:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return httpx.Client(base_url=self.url, headers=headers, timeout=30, **kwargs)


def _wait_healthy(url: str) -> None:
    deadline = time.monotonic() + 60
    while True:
        try:
            if httpx.get(url + "/health", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline:
            raise AssertionError(f"the server at {url} did not come up")
        time.sleep(0.05)


def serve(settings: ServerSettings) -> Iterator[str]:
    """Run the app under uvicorn in a thread until the generator is closed; yield its URL."""
    import uvicorn

    config = uvicorn.Config(create_app(settings), host="127.0.0.1", port=settings.port, log_level="warning")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{settings.port}"
    try:
        _wait_healthy(url)
        yield url
    finally:
        server.should_exit = True
        thread.join(30)


@contextmanager
def settings_for(backend: str, folder: Path) -> Iterator[ServerSettings]:
    """Auth-on settings over SQLite (an embedded home) or a fresh PostgreSQL database."""
    if backend == "sqlite":
        yield ServerSettings.for_home(folder / "home", port=free_port(), auth=True, retention_interval_s=0)
        return
    with postgres_database("tracelake_auth") as url:
        yield ServerSettings(
            database_url=url.render_as_string(hide_password=False),
            default_artifact_root=str(folder / "artifacts"),
            port=free_port(),
            auth=True,
            retention_interval_s=0,
        )


@pytest.fixture(params=BACKENDS)
def auth_settings(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[ServerSettings]:
    with settings_for(request.param, tmp_path) as settings:
        yield settings


@pytest.fixture
def auth_server(auth_settings: ServerSettings) -> Iterator[AuthServer]:
    """A server with `auth=True` over a fresh embedded store, an admin `root` with a token."""
    store = SqlTraceStore(auth_settings.database_url, auth_settings.default_artifact_root)
    try:
        for url in serve(auth_settings):
            server = AuthServer(url, auth_settings, store, AuthStore(store.engine))
            server.user("root", admin=True)
            yield server
    finally:
        store.close()
