"""The login page and a signed-in UI in Chromium: redirect to log in, back to the page, a change sent with
the CSRF token, log out."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from ui.conftest import chromium_path  # noqa: F401 - skips (or fails in CI) without Chromium

from .conftest import PASSWORD, AuthServer
from .worlds import make_world, package_b64


@pytest.fixture
def browser(chromium_path: str) -> Iterator[Any]:  # noqa: F811
    # Not the UI tests' session-wide browser: Playwright's sync API keeps an event loop running in
    # this thread while it is open, which later tests' asyncio.run() would trip over.
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=chromium_path, args=["--no-sandbox"], headless=True)
        try:
            yield launched
        finally:
            launched.close()


def test_log_in_tag_a_trace_and_log_out_in_a_browser(auth_server: AuthServer, browser: Any) -> None:
    auth_server.user("alice")
    with auth_server.client(auth_server.tokens["root"]) as root:
        world = make_world(root, package_b64(), prefix="browser")
    auth_server.grant("alice", world.experiment_id, "CAN_EDIT")
    context = browser.new_context(viewport={"width": 1300, "height": 900})
    page = context.new_page()
    page.set_default_timeout(15_000)
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    try:
        page.goto(f"{auth_server.url}/ui/traces/{world.trace_id}")
        page.wait_for_url("**/ui/login?next=*")
        page.fill("input[name=username]", "alice")
        page.fill("input[name=password]", "not the password")
        page.click("button[type=submit]")
        assert "Wrong username or password" in page.locator(".error").inner_text()
        page.fill("input[name=username]", "alice")
        page.fill("input[name=password]", PASSWORD)
        page.click("button[type=submit]")
        page.wait_for_url(f"**/ui/traces/{world.trace_id}")
        page.wait_for_selector("body[data-loaded=trace]")
        # A change from the UI's own scripts carries the session's CSRF token, so it is accepted.
        page.fill("#tag-key", "reviewed")
        page.fill("#tag-value", "yes")
        page.click("#tags button[type=submit]")
        page.wait_for_selector('#tags .chip[data-tag="reviewed"]')
        with auth_server.client(auth_server.tokens["alice"]) as alice:
            assert alice.get(f"/api/v1/traces/{world.trace_id}").json()["trace"]["info"]["tags"]["reviewed"] == "yes"
        page.goto(f"{auth_server.url}/ui/account")
        assert page.locator("#whoami").inner_text() == "alice"
        page.click("form[action='/ui/logout'] button")
        page.wait_for_url("**/ui/login")
        page.goto(f"{auth_server.url}/ui/experiments")
        page.wait_for_url("**/ui/login?next=*")
        assert errors == []
    finally:
        context.close()
