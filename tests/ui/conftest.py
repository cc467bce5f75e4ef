"""A real `tracelake server` over a seeded embedded store, and Debian's Chromium driven by Playwright.

Without Chromium or Playwright the UI tests are skipped with the reason, except in CI
(`CI=true`), where a missing browser is a failure (as a missing PostgreSQL is).
"""

from __future__ import annotations

import os
import queue
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from .seed import Seeded, seed

CHROMIUM = os.environ.get("TRACELAKE_TEST_CHROMIUM", "/usr/bin/chromium")
SRC = Path(__file__).resolve().parents[2] / "src"
OUTPUT = Path(__file__).resolve().parents[2] / "test-output" / "ui"
DEADLINE_S = 60.0


def _missing_browser() -> str | None:
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "Playwright for Python is not installed (pip install -e '.[dev]')"
    if not os.access(CHROMIUM, os.X_OK):
        return f"Chromium not found at {CHROMIUM} (apt-get install -y chromium)"
    return None


@pytest.fixture(scope="session")
def chromium_path() -> str:
    reason = _missing_browser()
    if reason is not None:
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI must run the browser tests: {reason}")
        pytest.skip(reason)
    return CHROMIUM


@pytest.fixture(scope="session")
def seeded_home(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Seeded]:
    home = tmp_path_factory.mktemp("ui") / "data"
    return home, seed(home)


def start_server(home: Path, cwd: Path) -> tuple[subprocess.Popen[str], str]:
    """Start `tracelake server --port 0` over `home`; return the process and its URL once healthy."""
    env = {key: value for key, value in os.environ.items() if not key.startswith(("TRACELAKE_", "OTEL_"))}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(SRC), env.get("PYTHONPATH")]))
    command = [sys.executable, "-m", "tracelake.cli", "--home", str(home), "server", "--port", "0"]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env, cwd=cwd)
    assert process.stdout is not None
    output = process.stdout
    lines: queue.Queue[str] = queue.Queue()
    threading.Thread(target=lambda: [lines.put(line) for line in output], daemon=True).start()
    first = lines.get(timeout=DEADLINE_S)
    assert " listening on http://127.0.0.1:" in first, first
    url = first.rsplit(" ", 1)[-1].strip()
    deadline = time.monotonic() + DEADLINE_S
    while True:
        try:
            if httpx.get(f"{url}/health", timeout=2).status_code == 200:
                return process, url
        except httpx.TransportError:
            pass
        if time.monotonic() > deadline:
            process.kill()
            raise AssertionError("the server did not answer /health")
        time.sleep(0.05)


def stop_server(process: subprocess.Popen[str]) -> None:
    process.send_signal(signal.SIGINT)
    try:
        process.wait(timeout=DEADLINE_S)
    finally:
        if process.poll() is None:
            process.kill()
        if process.stdout is not None:
            process.stdout.close()


@pytest.fixture(scope="session")
def server(
    chromium_path: str, seeded_home: tuple[Path, Seeded], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[str, Seeded]]:
    home, seeded = seeded_home
    process, url = start_server(home, tmp_path_factory.mktemp("cwd"))
    try:
        yield url, seeded
    finally:
        stop_server(process)


# Per module, not per session: while Playwright's sync API is open it keeps an event loop running
# on the main thread, and every asyncio test that ran after it (in other folders) would fail.
@pytest.fixture(scope="module")
def browser(chromium_path: str) -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium_path, args=["--no-sandbox"], headless=True)
        try:
            yield browser
        finally:
            browser.close()


class PageProbe:
    """A browser page plus what it noticed: dialogs (alert/confirm), page errors, console errors."""

    def __init__(self, page: Any) -> None:
        self.page = page
        self.dialogs: list[str] = []
        self.errors: list[str] = []
        page.on("dialog", self._on_dialog)
        page.on("pageerror", lambda error: self.errors.append(str(error)))
        page.on("console", self._on_console)

    def _on_console(self, message: Any) -> None:
        # The browser logs every 4xx answer; the UI shows those itself (a bad filter is expected).
        if message.type == "error" and not message.text.startswith("Failed to load resource"):
            self.errors.append(message.text)

    def _on_dialog(self, dialog: Any) -> None:
        self.dialogs.append(dialog.message)
        dialog.dismiss()

    def screenshot(self, name: str) -> None:
        OUTPUT.mkdir(parents=True, exist_ok=True)
        self.page.screenshot(path=str(OUTPUT / f"{name}.png"), full_page=True)


@pytest.fixture(params=["light"])
def probe(browser: Any, request: pytest.FixtureRequest) -> Iterator[PageProbe]:
    # bypass_csp: the tests' own probes (wait_for_function) evaluate script, which the UI's CSP forbids.
    # It also makes the XSS tests stricter: they show the UI escapes everything without leaning on the CSP.
    context = browser.new_context(viewport={"width": 1400, "height": 900}, color_scheme=request.param, bypass_csp=True)
    page = context.new_page()
    page.set_default_timeout(15_000)
    try:
        yield PageProbe(page)
    finally:
        context.close()
