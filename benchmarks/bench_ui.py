"""Time to first render of the web UI in Chromium: the explorer over N traces, a trace of 5,000 spans,
the dashboard over a day of N traces (issue 5's figures; targets: under 1 s each).

The store is the read benchmarks' dataset (`_dataset.py`: N traces over one day, SQLite), plus one
trace of 5,000 spans written through the store. A real `tracelake server` serves it; Debian's
Chromium (/usr/bin/chromium) opens each page cold (a new browser context per repetition) and the
time is from navigation start until the page marks itself drawn (`body[data-loaded]`: the table's
first page, the span tree and the root span's details, the dashboard's tiles and charts).

    python benchmarks/bench_ui.py -n 1000000 --reps 5
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
from _bench import HERE
from _dataset import DAY, T0, GenSpan, GenTrace, sqlite_dataset, to_batch

CHROMIUM = "/usr/bin/chromium"


def big_trace(span_count: int) -> GenTrace:
    """A trace of `span_count` spans: an agent root, steps under it, and tool/LLM calls under the steps."""
    rnd = random.Random(5)
    start = (T0 + DAY // 2) * 1_000_000
    root = GenSpan("f" * 16, None, "big_agent", "AGENT", start, start + 60_000_000_000, False)
    spans = [root]
    parent = root.span_id
    for index in range(1, span_count):
        span_id = f"{index:016x}"
        begin = start + index * 10_000_000
        kind = ("LLM", "TOOL", "RETRIEVER", "CHAIN")[index % 4]
        if kind == "CHAIN":
            parent_id = root.span_id
            parent = span_id
        else:
            parent_id = parent
        tokens = (rnd.randint(50, 500), rnd.randint(10, 200)) if kind == "LLM" else None
        cost = (0.0001, 0.0002) if kind == "LLM" else None
        spans.append(
            GenSpan(
                span_id,
                parent_id,
                f"{kind.lower()}_{index}",
                kind,
                begin,
                begin + 8_000_000,
                index % 97 == 0,
                "gpt-4o-mini" if kind == "LLM" else None,
                tokens,
                cost,
            )
        )
    return GenTrace(
        "ab" * 16, T0 + DAY // 2, spans, {"bench": "big"}, {"environment": "production"}, "a big one", "done"
    )


def start_server(database_url: str, artifacts: str) -> tuple[subprocess.Popen[str], str]:
    command = [
        sys.executable,
        "-m",
        "tracelake.cli",
        "server",
        "--port",
        "0",
        "--database",
        database_url,
        "--artifacts",
        artifacts,
    ]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    assert process.stdout is not None
    first = process.stdout.readline()
    url = first.rsplit(" ", 1)[-1].strip()
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/health", timeout=2).status_code == 200:
                return process, url
        except httpx.TransportError:
            time.sleep(0.1)
    raise SystemExit(f"the server did not start: {first}")


def first_render_ms(browser: Any, url: str, selector: str) -> float:
    context = browser.new_context(viewport={"width": 1400, "height": 900}, bypass_csp=True)
    try:
        page = context.new_page()
        page.set_default_timeout(120_000)
        page.goto(url, wait_until="commit")
        page.wait_for_selector(selector)
        # performance.now() counts from the navigation's start.
        return float(page.evaluate("performance.now()"))
    finally:
        context.close()


def main() -> None:
    arguments = argparse.ArgumentParser(description=__doc__)
    arguments.add_argument("-n", "--traces", type=int, default=1_000_000)
    arguments.add_argument("--spans", type=int, default=5_000, help="spans of the big trace")
    arguments.add_argument("--reps", type=int, default=5)
    arguments.add_argument("--json", type=Path, default=HERE / "out" / "bench_ui.json")
    options = arguments.parse_args()

    from playwright.sync_api import sync_playwright

    dataset = sqlite_dataset(options.traces)
    with dataset.open() as store:
        big = big_trace(options.spans)
        store.write_batches(dataset.experiment_id, [to_batch(big)])
    process, url = start_server(dataset.database_url, dataset.artifact_root)
    experiment = dataset.experiment_id
    pages = {
        f"explorer over {options.traces:,} traces": (
            f"{url}/ui/experiments/{experiment}/traces",
            "body[data-loaded=explorer] #traces tbody tr[data-trace-id]",
        ),
        f"trace of {options.spans:,} spans": (f"{url}/ui/traces/{big.trace_id}", "#span-panel[data-span-id]"),
        f"dashboard over a day of {options.traces:,} traces": (
            f"{url}/ui/experiments/{experiment}/dashboard?start={T0}&end={T0 + DAY}",
            "body[data-loaded=dashboard] #chart-requests rect.mark",
        ),
    }
    results: dict[str, Any] = {"traces": options.traces, "spans": options.spans, "pages": {}}
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"], headless=True)
            for name, (page_url, selector) in pages.items():
                first_render_ms(browser, page_url, selector)  # warm the server's caches and the OS page cache
                times = [first_render_ms(browser, page_url, selector) for _ in range(options.reps)]
                results["pages"][name] = {"median_ms": statistics.median(times), "all_ms": times}
                print(
                    f"{name}: median {statistics.median(times):.0f} ms (runs: {', '.join(f'{t:.0f}' for t in times)})"
                )
            browser.close()
    finally:
        process.terminate()
        process.wait(30)
    options.json.parent.mkdir(parents=True, exist_ok=True)
    options.json.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
