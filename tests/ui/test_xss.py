"""Trace content is untrusted: script and javascript: payloads everywhere are shown as text, never run."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from .conftest import PageProbe
from .seed import XSS, XSS_LINK, Seeded


def _assert_nothing_ran(probe: PageProbe) -> None:
    page: Any = probe.page
    assert page.evaluate("typeof window.__pwned") == "undefined"
    assert probe.dialogs == []
    hrefs = page.eval_on_selector_all("a[href]", "links => links.map(a => a.getAttribute('href'))")
    assert not [href for href in hrefs if href.strip().lower().startswith("javascript:")], hrefs
    # No element came from the payloads: every <script> and <img> is our own.
    assert page.locator("img").count() == 0
    sources = page.eval_on_selector_all("script", "scripts => scripts.map(s => s.getAttribute('src'))")
    assert all(src and src.startswith("/ui/static/") for src in sources), sources
    assert not probe.errors, probe.errors


@pytest.mark.parametrize("view", ["explorer", "trace", "sessions", "dashboard", "experiments"])
def test_payloads_are_shown_as_text_and_never_run(server: tuple[str, Seeded], probe: PageProbe, view: str) -> None:
    url, seeded = server
    experiment = httpx.get(f"{url}/api/v1/experiments/by-name/{seeded.experiment}").json()["experiment"]
    experiment_id = experiment["experiment_id"]
    # An experiment named like a payload too.
    httpx.post(f"{url}/api/v1/experiments", json={"name": XSS})
    page = probe.page
    paths = {
        "explorer": f"/ui/experiments/{experiment_id}/traces",
        "trace": f"/ui/traces/{seeded.xss_trace_id}",
        "sessions": f"/ui/experiments/{experiment_id}/sessions?session={httpx.QueryParams({'s': XSS_LINK})['s']}",
        "dashboard": f"/ui/experiments/{experiment_id}/dashboard",
        "experiments": "/ui/experiments",
    }
    response = page.goto(url + paths[view])
    assert "script-src 'self'" in response.headers["content-security-policy"]
    page.wait_for_selector(f"body[data-loaded={view}]" if view != "experiments" else "#experiments tbody tr")
    if view == "trace":
        # Open every span and every collapsed JSON branch: the payloads are rendered, as text.
        for row in page.locator("#span-tree .tree-row").all():
            row.click()
            page.wait_for_selector(f'#span-panel[data-span-id="{row.get_attribute("data-span-id")}"]')
            for _ in range(6):  # opening a branch builds the branches inside it
                page.evaluate(
                    "document.querySelectorAll('#span-panel details:not([open])').forEach(d => d.open = true)"
                )
                page.evaluate("new Promise(resolve => requestAnimationFrame(() => setTimeout(resolve)))")
        assert XSS in page.inner_text("#span-panel")
        assert XSS in page.inner_text("#assessments")  # the feedback's name and rationale
        assert XSS_LINK in page.inner_text("#tags")
    elif view == "sessions":
        page.wait_for_selector("#conversation .turn")
        assert XSS in page.inner_text("#conversation")
    elif view == "explorer":
        page.wait_for_selector(f'#traces tr[data-trace-id="{seeded.xss_trace_id}"]')
        assert XSS_LINK in page.inner_text(f'#traces tr[data-trace-id="{seeded.xss_trace_id}"]')
    elif view == "dashboard":
        page.wait_for_selector("body[data-breakdowns=loaded]")
        assert XSS in page.inner_text("#by-environment")
    else:
        assert XSS in page.inner_text("#experiments")
    probe.screenshot(f"xss-{view}")
    _assert_nothing_ran(probe)
