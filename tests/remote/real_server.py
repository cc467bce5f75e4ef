"""The real `tracelake.server` app on loopback: in a thread (fast) or in a process (to kill it)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import httpx

_PROCESS_CODE = """
import sys, uvicorn
from tracelake.server.app import create_app
from tracelake.server.settings import ServerSettings
port = int(sys.argv[2])
app = create_app(ServerSettings.for_home(sys.argv[1], port=port))
uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning")
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_until_healthy(url: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            if httpx.get(url + "/health", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline:
            raise AssertionError(f"the server at {url} did not come up in {timeout}s")
        time.sleep(0.05)


class ThreadServer:
    """uvicorn serving `create_app(settings)` in a background thread of this process."""

    def __init__(self, home: Path, **settings: Any) -> None:
        import uvicorn

        from tracelake.server.app import create_app
        from tracelake.server.settings import ServerSettings

        self.port = free_port()
        app = create_app(ServerSettings.for_home(home, port=self.port, **settings))
        config = uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning", lifespan="on")
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def app(self) -> Any:
        """The app being served (its `state` holds the store and the ingest gate)."""
        return self._server.config.app

    def start(self) -> ThreadServer:
        self._thread.start()
        wait_until_healthy(self.url)
        return self

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join(30)


class ProcessServer:
    """The server in its own process over `home`, so that a test can kill it (SIGKILL) and restart it."""

    def __init__(self, home: Path, port: int | None = None) -> None:
        self.home = home
        self.port = port or free_port()
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> ProcessServer:
        env = {k: v for k, v in os.environ.items() if not k.startswith("TRACELAKE_")}
        self._process = subprocess.Popen([sys.executable, "-c", _PROCESS_CODE, str(self.home), str(self.port)], env=env)
        wait_until_healthy(self.url)
        return self

    def kill(self) -> None:
        """Crash it: no shutdown, no flush, connections cut."""
        if self._process is not None:
            self._process.send_signal(signal.SIGKILL)
            self._process.wait(30)
            self._process = None

    def stop(self) -> None:
        if self._process is not None:
            self._process.terminate()
            try:
                self._process.wait(30)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait(30)
            self._process = None
