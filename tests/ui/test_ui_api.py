"""The REST endpoints the UI added, as any API user calls them: answers and clear 4xx on bad input."""

from __future__ import annotations

import time
from pathlib import Path

import httpx

from tracelake.model import Span, SpanStatus, StatusCode, TraceBatch, TraceFields
from tracelake.store import open_embedded_store

from .seed import Seeded


def test_ui_endpoints_answer_and_reject_bad_input(server: tuple[str, Seeded]) -> None:
    url, seeded = server
    with httpx.Client(base_url=url, timeout=30) as http:
        experiment_id = http.get(f"/api/v1/experiments/by-name/{seeded.experiment}").json()["experiment"][
            "experiment_id"
        ]
        page = http.get(f"/api/v1/experiments/{experiment_id}/sessions", params={"max_results": 1}).json()
        assert len(page["sessions"]) == 1 and page["next_page_token"]
        rest = http.get(
            f"/api/v1/experiments/{experiment_id}/sessions", params={"page_token": page["next_page_token"]}
        ).json()
        assert page["sessions"][0]["session_id"] not in {s["session_id"] for s in rest["sessions"]}
        bad = http.get(f"/api/v1/experiments/{experiment_id}/sessions", params={"page_token": "nonsense!"})
        assert bad.status_code == 400 and "page_token" in bad.json()["error"]["message"]
        bad = http.get(f"/api/v1/experiments/{experiment_id}/sessions", params={"filter": "status = "})
        assert bad.status_code == 400 and bad.json()["error"]["position"] is not None

        index = http.get(f"/api/v1/traces/{seeded.error_trace_id}/span-index").json()["spans"]
        assert [span["name"] for span in index] == ["support_agent", "search_kb", "chat gpt-4o-mini", "lookup_order"]
        assert all("inputs" not in span for span in index)
        span = http.get(f"/api/v1/traces/{seeded.error_trace_id}/spans/{index[3]['span_id']}").json()["span"]
        assert span["events"][0]["name"] == "exception"
        assert http.get(f"/api/v1/traces/{seeded.error_trace_id}/spans/{'0' * 16}").status_code == 404
        assert http.get(f"/api/v1/traces/{'0' * 32}/span-index").status_code == 404

        found = http.post("/api/v1/assessments/by-trace", json={"trace_ids": seeded.thumbs_down}).json()["assessments"]
        assert {key: [a["value"] for a in items] for key, items in found.items()} == {
            trace_id: [False] for trace_id in seeded.thumbs_down
        }
        too_many = http.post("/api/v1/assessments/by-trace", json={"trace_ids": ["ab" * 16] * 1001})
        assert too_many.status_code in (400, 422)
        bad = http.post("/api/v1/metrics/feedback", json={"start_time_ms": 10, "end_time_ms": 5, "bucket_seconds": 60})
        assert bad.status_code == 400 and "end_time_ms" in bad.json()["error"]["message"]

        page_response = http.get(f"/ui/traces/{seeded.error_trace_id}")
        assert "script-src 'self'" in page_response.headers["content-security-policy"]
        assert http.get("/ui/static/../app.py").status_code == 404
        assert http.get("/ui/static/js/nothing.js").status_code == 404
        assert http.get("/", follow_redirects=False).headers["location"] == "/ui/experiments"


def _span(trace_id: str, span_id: str, parent_id: str | None, name: str, at_ns: int, outputs: object) -> Span:
    return Span(
        trace_id=trace_id,
        span_id=span_id,
        parent_id=parent_id,
        name=name,
        span_type="TOOL",
        start_time_ns=at_ns,
        end_time_ns=at_ns + 1_000_000,
        status=SpanStatus(StatusCode.OK, ""),
        inputs={"step": name},
        outputs=outputs,
    )


def test_a_span_read_after_more_spans_arrive_sees_them(
    server: tuple[str, Seeded], seeded_home: tuple[Path, Seeded]
) -> None:
    """The server keeps decoded traces for the span reads of the trace view; new spans must still show."""
    url, _ = server
    home, _ = seeded_home
    trace_id = "5a" * 16
    root, first, second = "1" * 16, "2" * 16, "3" * 16
    now_ns = time.time_ns()
    with open_embedded_store(home) as store, httpx.Client(base_url=url, timeout=30) as http:
        experiment_id = store.get_or_create_experiment("late-spans").experiment_id
        fields = TraceFields(tags={}, metadata={}, request_preview="q", response_preview=None)
        store.write_batches(
            experiment_id, [TraceBatch(trace_id, [_span(trace_id, first, root, "first", now_ns, "v1")], fields)]
        )
        index = http.get(f"/api/v1/traces/{trace_id}/span-index", params={"prefetch_payloads": "true"})
        assert [span["name"] for span in index.json()["spans"]] == ["first"]
        assert http.get(f"/api/v1/traces/{trace_id}/spans/{first}").json()["span"]["outputs"] == "v1"
        assert http.get(f"/api/v1/traces/{trace_id}/spans/{second}").status_code == 404

        # More spans arrive (and the root), as from another process: the next reads show them.
        later = [
            _span(trace_id, root, None, "root", now_ns - 1000, "done"),
            _span(trace_id, second, root, "second", now_ns + 5_000_000, "v2"),
        ]
        store.write_batches(experiment_id, [TraceBatch(trace_id, later, fields)])
        assert http.get(f"/api/v1/traces/{trace_id}/spans/{second}").json()["span"]["outputs"] == "v2"
        assert http.get(f"/api/v1/traces/{trace_id}/spans/{root}").json()["span"]["name"] == "root"
        assert http.get(f"/api/v1/traces/{trace_id}/spans/{first}").json()["span"]["outputs"] == "v1"
