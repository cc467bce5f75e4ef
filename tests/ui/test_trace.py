"""The trace page in Chromium: span tree; messages, documents and exceptions; feedback and tags stored."""

from __future__ import annotations

import httpx

from .conftest import PageProbe
from .seed import Seeded


def test_trace_tree_span_details_and_exception(server: tuple[str, Seeded], probe: PageProbe) -> None:
    url, seeded = server
    page = probe.page
    page.goto(f"{url}/ui/traces/{seeded.error_trace_id}")
    page.wait_for_selector("body[data-loaded=trace]")
    names = page.locator("#span-tree .tree-row .span-name").all_inner_texts()
    assert names == ["support_agent", "search_kb", "chat gpt-4o-mini", "lookup_order"]
    page.wait_for_selector("#span-panel[data-span-id]")

    # Keyboard: collapse the root, expand it again, walk down to the tool span.
    page.focus("#span-tree")
    page.keyboard.press("ArrowLeft")
    assert page.locator("#span-tree .tree-row").count() == 1
    page.keyboard.press("ArrowRight")
    assert page.locator("#span-tree .tree-row").count() == 4
    for _ in range(3):
        page.keyboard.press("ArrowDown")
    tool_row = page.locator("#span-tree .tree-row", has_text="lookup_order")
    assert tool_row.get_attribute("aria-selected") == "true"
    exception = page.locator("#span-panel .exception")
    exception.wait_for()
    assert "TimeoutError" in exception.inner_text()
    assert "the order service did not answer in 5 s" in exception.inner_text()
    assert "Traceback" in page.locator("#span-panel .stacktrace").inner_text()
    assert "span=" in page.url
    probe.screenshot("trace-exception")

    # The LLM span: chat messages and the tool call it asked for, rendered as such.
    page.locator("#span-tree .tree-row", has_text="chat gpt-4o-mini").click()
    page.wait_for_selector("#span-panel .message.role-system")
    assert "Cancel order 77" in page.locator("#span-panel .message.role-user").inner_text()
    assert "lookup_order" in page.locator("#span-panel .tool-call").inner_text()
    probe.screenshot("trace-llm")

    # The retriever: documents.
    page.locator("#span-tree .tree-row", has_text="search_kb").click()
    page.wait_for_selector("#span-panel .document")
    assert "kb/refunds.md" in page.locator("#span-panel .documents").inner_text()

    # Search: only matches and their ancestors stay.
    page.fill("#span-search", "lookup")
    assert page.locator("#span-tree .tree-row .span-name").all_inner_texts() == ["support_agent", "lookup_order"]
    assert page.inner_text("#span-search-count") == "1 match"
    assert not probe.errors, probe.errors


def test_feedback_and_tags_from_the_trace_page_are_stored(server: tuple[str, Seeded], probe: PageProbe) -> None:
    url, seeded = server
    trace_id = seeded.trace_ids[5]
    page = probe.page
    page.goto(f"{url}/ui/traces/{trace_id}")
    page.wait_for_selector("body[data-loaded=trace]")
    page.fill("#feedback-name", "support_rating")
    page.select_option("#feedback-value", "score")
    page.fill("#feedback-score", "0.5")
    page.fill("#feedback-rationale", "helpful but slow")
    page.click("#feedback-submit")
    page.wait_for_selector("#feedback-status:has-text('Feedback saved')")
    stored = httpx.get(f"{url}/api/v1/traces/{trace_id}/assessments").json()["assessments"]
    assert [(a["name"], a["value"], a["rationale"], a["source"]["source_type"]) for a in stored] == [
        ("support_rating", 0.5, "helpful but slow", "HUMAN")
    ]
    assert "support_rating" in page.inner_text("#assessments")

    page.fill("#tag-key", "reviewed")
    page.fill("#tag-value", "yes")
    page.click("#tags button[type=submit]")
    page.wait_for_selector('#tags .chip[data-tag="reviewed"]')
    assert httpx.get(f"{url}/api/v1/traces/{trace_id}").json()["trace"]["info"]["tags"]["reviewed"] == "yes"
    page.click('#tags .chip[data-tag="reviewed"] .chip-remove')
    page.wait_for_selector('#tags .chip[data-tag="reviewed"]', state="detached")
    assert "reviewed" not in httpx.get(f"{url}/api/v1/traces/{trace_id}").json()["trace"]["info"]["tags"]
    probe.screenshot("trace-feedback")
    assert not probe.errors, probe.errors
