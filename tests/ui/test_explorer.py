"""The trace explorer in Chromium: the table, filters (and a bad one), quick filters, sorting, live updates."""

from __future__ import annotations

from typing import Any

import httpx

from .conftest import PageProbe
from .seed import Seeded


def _experiment_id(url: str, seeded: Seeded) -> str:
    return str(httpx.get(f"{url}/api/v1/experiments/by-name/{seeded.experiment}").json()["experiment"]["experiment_id"])


def _rows(page: Any) -> list[str]:
    return [str(row.get_attribute("data-trace-id")) for row in page.locator("#traces tbody tr[data-trace-id]").all()]


def _wait_rows(page: Any, expected: list[str], ordered: bool = False) -> None:
    """Wait until the table shows exactly these traces (in this order if `ordered`)."""
    script = """([expected, ordered]) => {
        const ids = [...document.querySelectorAll('#traces tbody tr[data-trace-id]')].map(r => r.dataset.traceId);
        const a = ordered ? ids : [...ids].sort(), b = ordered ? expected : [...expected].sort();
        return a.length === b.length && a.every((id, i) => id === b[i]);
    }"""
    page.wait_for_function(script, arg=[expected, ordered])


def test_explorer_lists_filters_and_shows_filter_errors(server: tuple[str, Seeded], probe: PageProbe) -> None:
    url, seeded = server
    experiment_id = _experiment_id(url, seeded)
    page = probe.page
    page.goto(f"{url}/")  # the root sends the browser to the experiments page
    page.wait_for_selector("#experiments tbody tr[data-experiment-id]")
    row = page.locator(f'#experiments tr[data-experiment-id="{experiment_id}"]')
    assert "11.1%" in row.inner_text()  # 1 error in 9 traces
    probe.screenshot("experiments")
    row.get_by_role("link", name=seeded.experiment).click()

    page.wait_for_selector("body[data-loaded=explorer]")
    _wait_rows(page, seeded.trace_ids)
    first = page.locator(f'#traces tr[data-trace-id="{seeded.trace_ids[1]}"]')
    assert "Can I change the delivery address?" in first.inner_text()
    assert first.locator(".thumb.down").inner_text() == "▼ 1"  # its thumbs down
    probe.screenshot("explorer")

    page.fill("#filter", "status = 'ERROR'")
    page.press("#filter", "Enter")
    _wait_rows(page, [seeded.error_trace_id])
    assert "filter=status" in page.url  # the view has a URL that can be shared
    shared = page.url

    page.fill("#filter", "status = 'OK' AND colour = 'red'")
    page.press("#filter", "Enter")
    error = page.locator(".filter-error")
    error.wait_for()
    assert "unknown field 'colour'" in error.inner_text()
    assert page.locator("mark.filter-here").inner_text() == "c"
    assert "position 18" in error.inner_text()
    assert page.get_attribute("#filter", "aria-invalid") == "true"
    probe.screenshot("explorer-bad-filter")

    page.goto(shared)  # the shared URL restores the filtered view
    _wait_rows(page, [seeded.error_trace_id])
    assert page.input_value("#filter") == "status = 'ERROR'"
    assert not probe.errors, probe.errors


def test_quick_filters_sorting_columns_and_paging(server: tuple[str, Seeded], probe: PageProbe) -> None:
    url, seeded = server
    experiment_id = _experiment_id(url, seeded)
    page = probe.page
    page.goto(f"{url}/ui/experiments/{experiment_id}/traces")
    page.wait_for_selector("body[data-loaded=explorer]")

    _wait_rows(page, seeded.trace_ids)
    page.check("#quick-down")
    _wait_rows(page, seeded.thumbs_down)
    page.uncheck("#quick-down")
    page.check("#quick-errors")
    _wait_rows(page, [seeded.error_trace_id])
    page.uncheck("#quick-errors")
    page.select_option("#quick-env", "staging")
    _wait_rows(page, seeded.sessions["s-2"])
    assert "env=staging" in page.url

    page.goto(f"{url}/ui/experiments/{experiment_id}/traces?size=4&sort=duration&dir=asc")
    api = httpx.post(
        f"{url}/api/v1/traces/search",
        json={"experiment_ids": [experiment_id], "order_by": ["execution_time_ms ASC"], "max_results": 8},
    ).json()
    expected = [t["info"]["trace_id"] for t in api["traces"]]
    _wait_rows(page, expected[:4], ordered=True)
    page.click("#page-next")
    _wait_rows(page, expected[4:8], ordered=True)
    assert "page=" in page.url
    page.click("#page-prev")
    _wait_rows(page, expected[:4], ordered=True)

    # Sorting by a header, and choosing columns.
    page.click('button.sort[data-sort="cost"]')
    page.wait_for_selector('th[aria-sort="descending"] button[data-sort="cost"]')
    page.click(".menu summary")
    page.uncheck("#col-response")
    assert page.locator("#traces thead th", has_text="Response").count() == 0
    assert "cols=" in page.url
    assert not probe.errors, probe.errors


def test_new_traces_appear_without_reload(server: tuple[str, Seeded], probe: PageProbe) -> None:
    url, seeded = server
    experiment_id = _experiment_id(url, seeded)
    page = probe.page
    page.goto(f"{url}/ui/experiments/{experiment_id}/traces?filter=name+%3D+%27live-check%27")
    page.wait_for_selector("body[data-loaded=explorer]")
    assert _rows(page) == []

    # A new trace arrives over OTLP/JSON while the page is open.
    trace_id = "ab" * 16
    now_ns = __import__("time").time_ns()
    body = {
        "resourceSpans": [
            {
                "resource": {"attributes": []},
                "scopeSpans": [
                    {
                        "spans": [
                            {
                                "traceId": trace_id,
                                "spanId": "cd" * 8,
                                "name": "live-check",
                                "startTimeUnixNano": str(now_ns),
                                "endTimeUnixNano": str(now_ns + 5_000_000),
                                "status": {"code": 1},
                            }
                        ]
                    }
                ],
            }
        ]
    }
    headers = {"x-tracelake-experiment-id": experiment_id}
    assert httpx.post(f"{url}/v1/traces", json=body, headers=headers).status_code == 200
    page.wait_for_selector(f'#traces tr[data-trace-id="{trace_id}"]', timeout=20_000)
    assert "fresh" in str(page.get_attribute(f'#traces tr[data-trace-id="{trace_id}"]', "class"))
    httpx.post(f"{url}/api/v1/traces/delete", json={"experiment_id": experiment_id, "trace_ids": [trace_id]})
    assert not probe.errors, probe.errors
