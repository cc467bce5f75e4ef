"""Time to first render of the web UI in Chromium (issue 5's figures; targets: under 1 s each).

Pages: the explorer over N traces, a trace of 5,000 spans, a trace of 10 MB of payload, and the
dashboard over a day of N traces. The store is the read benchmarks' SQLite dataset (`_dataset.py`:
N traces over one day; a million are bulk-loaded in minutes and cached under `benchmarks/out/`).
The two big traces are written through the store into their own experiment (`bench-ui`), once per
cached dataset, so the dataset's experiment, which the other benchmarks read, stays as built.

A real `tracelake server` serves it; Debian's Chromium (/usr/bin/chromium) opens each page cold
(a new browser context per repetition) and the time is from navigation start until the page marks
itself drawn:

- explorer: the table's first page (`body[data-loaded=explorer]`);
- trace: the span tree and the root span's details (`#span-panel[data-span-id]`); then, in the same
  page, the time from a click on another span until its payload is drawn ("open a span");
- dashboard: first render is the requests chart (`body[data-first-render=dashboard]`); "complete"
  is every tile and time chart (`body[data-loaded=dashboard]`); "breakdowns" the three grouped
  tables under them, in view at the benchmark's window size (`body[data-breakdowns=loaded]`).

The first run of each page is reported apart ("cold": the server's caches and the OS page cache
are empty then); the median is over the repetitions after it.

    python benchmarks/bench_ui.py -n 1000000 --reps 5
"""

from __future__ import annotations

import argparse
import json
import os
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

from tracelake.model import Span, SpanStatus, StatusCode, TraceBatch, TraceFields
from tracelake.store import SqlTraceStore

CHROMIUM = "/usr/bin/chromium"
UI_EXPERIMENT = "bench-ui"
BIG_TRACE_ID = "b1" * 16
HEAVY_TRACE_ID = "c1" * 16
WORDS = ("refund", "order", "customer", "shipping", "the", "a", "policy", "tracking", "invoice", "delay", "label")


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
        BIG_TRACE_ID, T0 + DAY // 2, spans, {"bench": "big"}, {"environment": "production"}, "a big one", "done"
    )


def heavy_trace(payload_bytes: int, span_count: int = 200) -> TraceBatch:
    """A trace whose spans carry `payload_bytes` of JSON in all: chat messages in, documents out."""
    rnd = random.Random(11)
    per_span = payload_bytes // span_count

    def text(size: int) -> str:
        words: list[str] = []
        length = 0
        while length < size:
            word = rnd.choice(WORDS)
            words.append(word)
            length += len(word) + 1
        return " ".join(words)

    start = (T0 + DAY // 2) * 1_000_000
    spans = []
    for index in range(span_count):
        begin = start + index * 50_000_000
        root = index == 0
        spans.append(
            Span(
                trace_id=HEAVY_TRACE_ID,
                span_id=f"{index + 1:016x}",
                parent_id=None if root else f"{1:016x}",
                name="heavy_agent" if root else f"retrieve_{index}",
                span_type="AGENT" if root else "RETRIEVER",
                start_time_ns=begin,
                end_time_ns=begin + (span_count * 50_000_000 if root else 40_000_000),
                status=SpanStatus(StatusCode.OK, ""),
                inputs={"messages": [{"role": "user", "content": text(per_span // 2)}]},
                outputs=[{"page_content": text(per_span // 8), "metadata": {"n": n}} for n in range(4)],
                attributes={"service.name": "support-agent"},
            )
        )
    fields = TraceFields(tags={"bench": "heavy"}, metadata={}, request_preview="a heavy one", response_preview="done")
    return TraceBatch(HEAVY_TRACE_ID, spans, fields, frozenset())


def ensure_ui_traces(database_url: str, artifacts: str, span_count: int, payload_bytes: int) -> str:
    """Write the big and the heavy trace into the `bench-ui` experiment unless they are there; return its id."""
    with SqlTraceStore(database_url, artifacts) as store:
        experiment = store.get_or_create_experiment(UI_EXPERIMENT)
        wanted = f"{span_count} {payload_bytes}"
        if experiment.tags.get("bench.ui") != wanted:
            store.delete_traces(experiment.experiment_id, trace_ids=[BIG_TRACE_ID, HEAVY_TRACE_ID])
            store.write_batches(experiment.experiment_id, [to_batch(big_trace(span_count))])
            store.write_batches(experiment.experiment_id, [heavy_trace(payload_bytes)])
            store.set_experiment_tag(experiment.experiment_id, "bench.ui", wanted)
        return experiment.experiment_id


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


# Click the last span row drawn (not the root), then wait until its payload is drawn: the time to open a span.
_OPEN_SPAN_JS = """async () => {
  const rows = document.querySelectorAll('#span-tree .tree-row');
  const row = rows[Math.min(rows.length - 1, 12)];
  const id = row.dataset.spanId;
  const started = performance.now();
  row.click();
  const panel = document.getElementById('span-panel');
  while (panel.dataset.spanId !== id) await new Promise((resolve) => requestAnimationFrame(resolve));
  return performance.now() - started;
}"""


# Set before the page's own scripts run: records when each mark's selector first matches (at the next
# animation frame, i.e. when the browser is about to paint it), so the figures do not include the
# time Playwright takes to notice.
_MARKS_JS = """(marks) => {
  window.__marks = {};
  const check = () => {
    for (const [name, selector] of Object.entries(marks)) {
      if (!(name in window.__marks) && document.querySelector(selector)) {
        window.__marks[name] = null;
        requestAnimationFrame(() => { window.__marks[name] = performance.now(); });
      }
    }
  };
  new MutationObserver(check).observe(document, { subtree: true, childList: true, attributes: true });
}"""


def measure(browser: Any, url: str, marks: dict[str, str], open_span: bool) -> dict[str, float]:
    """Open `url` in a fresh context; return ms from navigation start to each mark (and to open a span)."""
    context = browser.new_context(viewport={"width": 1400, "height": 900}, bypass_csp=True)
    try:
        context.add_init_script(f"({_MARKS_JS})({json.dumps(marks)})")
        page = context.new_page()
        page.set_default_timeout(300_000)
        page.goto(url, wait_until="commit")
        page.wait_for_function(
            "(names) => names.every((name) => typeof window.__marks?.[name] === 'number')", arg=list(marks)
        )
        # performance.now() counts from the navigation's start.
        times = {name: float(value) for name, value in page.evaluate("window.__marks").items()}
        if open_span:
            times["open a span"] = float(page.evaluate(_OPEN_SPAN_JS))
        return times
    finally:
        context.close()


def main() -> None:
    arguments = argparse.ArgumentParser(description=__doc__)
    arguments.add_argument("-n", "--traces", type=int, default=1_000_000)
    arguments.add_argument("--spans", type=int, default=5_000, help="spans of the big trace")
    arguments.add_argument("--payload-mb", type=float, default=10.0, help="payload of the heavy trace (MB of JSON)")
    arguments.add_argument("--reps", type=int, default=5)
    arguments.add_argument("--only", help="comma-separated page keys: explorer,trace,heavy,dashboard")
    arguments.add_argument("--json", type=Path, default=HERE / "out" / "bench_ui.json")
    options = arguments.parse_args()

    from playwright.sync_api import sync_playwright

    dataset = sqlite_dataset(options.traces)
    payload_bytes = int(options.payload_mb * 1_000_000)
    ensure_ui_traces(dataset.database_url, dataset.artifact_root, options.spans, payload_bytes)
    process, url = start_server(dataset.database_url, dataset.artifact_root)
    experiment = dataset.experiment_id
    explorer = {"first render": "body[data-loaded=explorer] #traces tbody tr[data-trace-id]"}
    trace = {"first render": "#span-panel[data-span-id]"}
    dashboard = {
        "first render": "body[data-first-render=dashboard] #chart-requests rect.mark",
        "complete": "body[data-loaded=dashboard]",
        # Waited for so that no repetition leaves its grouped queries running into the next one.
        "breakdowns": "body[data-breakdowns=loaded]",
    }
    pages: dict[str, tuple[str, str, dict[str, str], bool]] = {
        "explorer": (
            f"explorer over {options.traces:,} traces",
            f"{url}/ui/experiments/{experiment}/traces",
            explorer,
            False,
        ),
        "trace": (f"trace of {options.spans:,} spans", f"{url}/ui/traces/{BIG_TRACE_ID}", trace, True),
        "heavy": (f"trace of {options.payload_mb:g} MB of payload", f"{url}/ui/traces/{HEAVY_TRACE_ID}", trace, True),
        "dashboard": (
            f"dashboard over a day of {options.traces:,} traces",
            f"{url}/ui/experiments/{experiment}/dashboard?start={T0}&end={T0 + DAY}",
            dashboard,
            False,
        ),
    }
    if options.only:
        pages = {key: pages[key] for key in options.only.split(",")}
    results: dict[str, Any] = {
        "traces": options.traces,
        "spans": options.spans,
        "payload_mb": options.payload_mb,
        "load_average_before": os.getloadavg(),
        "pages": {},
    }
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"], headless=True)
            for name, page_url, marks, open_span in pages.values():
                cold = measure(browser, page_url, marks, open_span)
                runs = [measure(browser, page_url, marks, open_span) for _ in range(options.reps)]
                figures = {
                    mark: {
                        "median_ms": statistics.median(run[mark] for run in runs),
                        "all_ms": [run[mark] for run in runs],
                        "cold_ms": cold[mark],
                    }
                    for mark in cold
                }
                results["pages"][name] = figures
                for mark, figure in figures.items():
                    runs_text = ", ".join(f"{t:.0f}" for t in figure["all_ms"])
                    print(
                        f"{name}, {mark}: median {figure['median_ms']:.0f} ms "
                        f"(runs: {runs_text}; cold: {figure['cold_ms']:.0f})",
                        flush=True,
                    )
            browser.close()
    finally:
        process.terminate()
        process.wait(30)
    results["load_average_after"] = os.getloadavg()
    print(f"load average before: {results['load_average_before']}, after: {results['load_average_after']}")
    options.json.parent.mkdir(parents=True, exist_ok=True)
    options.json.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
