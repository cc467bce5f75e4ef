"""Sessions and the dashboard in Chromium, checked against the seeded traces and the metrics API."""

from __future__ import annotations

import time

import httpx

from .conftest import PageProbe
from .seed import Seeded


def _experiment_id(url: str, seeded: Seeded) -> str:
    return str(httpx.get(f"{url}/api/v1/experiments/by-name/{seeded.experiment}").json()["experiment"]["experiment_id"])


def test_sessions_show_the_conversation_with_totals(server: tuple[str, Seeded], probe: PageProbe) -> None:
    url, seeded = server
    experiment_id = _experiment_id(url, seeded)
    page = probe.page
    page.goto(f"{url}/ui/experiments/{experiment_id}/sessions")
    page.wait_for_selector("body[data-loaded=sessions]")
    row = page.locator('#sessions tr[data-session-id="s-1"]')
    cells = row.locator("td").all_inner_texts()
    assert cells[1:4] == ["u-7", "3", "0"]
    assert cells[6:8] == ["450", "$0.0015"]
    row.get_by_role("link").click()
    page.wait_for_selector("#conversation .turn")
    turns = page.locator("#conversation .turn")
    assert [turn.get_attribute("data-trace-id") for turn in turns.all()] == seeded.sessions["s-1"]
    assert "Where is my order 1042?" in turns.first.inner_text()
    assert "3 turns · 0 errors" in page.inner_text("#session-totals")
    assert "session=s-1" in page.url
    probe.screenshot("sessions")
    assert not probe.errors, probe.errors


def test_dashboard_numbers_match_the_metrics_api(server: tuple[str, Seeded], probe: PageProbe) -> None:
    url, seeded = server
    experiment_id = _experiment_id(url, seeded)
    page = probe.page
    page.goto(f"{url}/ui/experiments/{experiment_id}/dashboard?range=24h")
    page.wait_for_selector("body[data-loaded=dashboard]")
    end = int(time.time() * 1000)
    metrics = httpx.post(
        f"{url}/api/v1/metrics",
        json={
            "experiment_ids": [experiment_id],
            "start_time_ms": end - 86_400_000,
            "end_time_ms": end,
            "bucket_seconds": 10_000_000_000,
        },
    ).json()["series"][0]["points"][0]
    assert metrics["request_count"] == len(seeded.trace_ids) == 9
    assert page.inner_text("#tile-requests .tile-value") == "9"
    assert page.inner_text("#tile-errors .tile-value") == "11.1%"
    assert page.inner_text("#tile-tokens .tile-value") == f"{metrics['total_tokens']:,}" == "1,200"
    assert page.inner_text("#tile-cost .tile-value") == "$0.0040"
    bars = page.locator("#chart-requests rect.mark")
    assert sum(int(str(bar.get_attribute("data-value"))) for bar in bars.all()) == 9
    assert page.locator("#chart-latency circle.mark").count() == 3  # p50, p90, p99 of the one bucket
    # Breakdowns (the costliest queries) load when scrolled into view.
    page.locator("#breakdowns").scroll_into_view_if_needed()
    page.wait_for_selector("body[data-breakdowns=loaded]")
    model_row = page.locator('#by-model tr[data-group="gpt-4o-mini"]')
    assert model_row.locator("td").nth(1).inner_text() == "8"  # eight LLM calls
    production = page.locator('#by-environment tr[data-group="production"]').locator("td").all_inner_texts()
    assert production[1:3] == ["6", "16.7%"]
    failing = page.locator("#failing-spans tbody tr").all()
    assert {str(row.get_attribute("data-group")) for row in failing} == {"lookup_order", "support_agent"}
    feedback = page.locator("#chart-feedback")
    assert "user_thumbs (3)" in feedback.inner_text()
    probe.screenshot("dashboard")

    # A bad filter shows the error with its position; nothing breaks.
    page.fill("#dash-filter", "status = ")
    page.click("#dashboard-apply")
    page.wait_for_selector(".filter-error")
    assert not probe.errors, probe.errors
