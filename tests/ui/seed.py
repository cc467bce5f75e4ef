"""Realistic traces for the UI tests, written with the SDK into an embedded store.

A small support agent: sessions of several turns, LLM calls with chat messages and usage, a
retriever with documents, a tool call, a failing trace with a stack trace, feedback, and one trace
whose every field carries script payloads (the UI must show them as text).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

import tracelake

XSS = '<script>window.__pwned = 1</script><img src=x onerror="window.__pwned = 1">'
XSS_LINK = "javascript:window.__pwned = 1"


@dataclass
class Seeded:
    """What the seed wrote, for assertions."""

    experiment: str = "support-agent"
    trace_ids: list[str] = field(default_factory=list)
    error_trace_id: str = ""
    xss_trace_id: str = ""
    thumbs_down: list[str] = field(default_factory=list)
    sessions: dict[str, list[str]] = field(default_factory=dict)


QUESTIONS = [
    ("s-1", "u-7", "production", "Where is my order 1042?"),
    ("s-1", "u-7", "production", "Can I change the delivery address?"),
    ("s-1", "u-7", "production", "Thanks! And the refund policy?"),
    ("s-2", "u-9", "staging", "How do I reset my password?"),
    ("s-2", "u-9", "staging", "It says my link expired"),
    (None, "u-3", "production", "What are your opening hours?"),
    (None, "u-4", "production", "Do you ship to Norway?"),
]


def _answer(question: str, session: str | None, user: str, environment: str, fail: bool = False) -> str:
    with tracelake.start_span("support_agent", span_type="AGENT", inputs={"question": question}) as root:
        tracelake.update_current_trace(session_id=session, user_id=user, environment=environment, tags={"team": "care"})
        with tracelake.start_span("search_kb", span_type="RETRIEVER", inputs={"query": question}) as retriever:
            retriever.set_outputs(
                [
                    {"page_content": "Orders ship within 2 days.", "metadata": {"source": "kb/shipping.md"}},
                    {"page_content": "Refunds take 5 business days.", "metadata": {"source": "kb/refunds.md"}},
                ]
            )
        messages = [
            {"role": "system", "content": "You are a helpful support agent."},
            {"role": "user", "content": question},
        ]
        with tracelake.start_span("chat gpt-4o-mini", span_type="LLM", inputs={"messages": messages}) as llm:
            tracelake.set_llm_usage("gpt-4o-mini", "openai", input_tokens=120, output_tokens=30, cost_usd=0.0005)
            time.sleep(0.02)  # the model "thinks": spans get real, visible durations
            llm.set_outputs(
                {
                    "choices": [
                        {
                            "message": {
                                "role": "assistant",
                                "content": None,
                                "tool_calls": [
                                    {
                                        "id": "call_1",
                                        "type": "function",
                                        "function": {"name": "lookup_order", "arguments": '{"order_id": "1042"}'},
                                    }
                                ],
                            }
                        }
                    ]
                }
            )
        with tracelake.start_span("lookup_order", span_type="TOOL", inputs={"order_id": "1042"}) as tool:
            if fail:
                try:
                    raise TimeoutError("the order service did not answer in 5 s")
                except TimeoutError as exc:
                    tool.record_exception(exc)
                    tool.set_status("ERROR", "the order service did not answer in 5 s")
                root.set_status("ERROR", "lookup_order failed")
            else:
                tool.set_outputs({"status": "shipped", "eta": "tomorrow"})
        answer = "Sorry, something went wrong." if fail else f"Here is what I found about: {question}"
        root.set_outputs(answer)
        return root.trace_id


def seed(home: Path) -> Seeded:
    """Write the traces and feedback into the embedded store at `home`."""
    seeded = Seeded()
    tracelake.configure(home=str(home), experiment_name=seeded.experiment)
    try:
        for session, user, environment, question in QUESTIONS:
            trace_id = _answer(question, session, user, environment)
            seeded.trace_ids.append(trace_id)
            if session:
                seeded.sessions.setdefault(session, []).append(trace_id)
        seeded.error_trace_id = _answer("Cancel order 77", None, "u-5", "production", fail=True)
        seeded.trace_ids.append(seeded.error_trace_id)

        with tracelake.start_span(XSS, span_type="AGENT", inputs={"question": XSS, "link": XSS_LINK}) as root:
            tracelake.update_current_trace(
                session_id=XSS_LINK, user_id=XSS, tags={XSS: XSS_LINK, "link": XSS_LINK}, environment=XSS
            )
            with tracelake.start_span(XSS_LINK, span_type=XSS, inputs=[{"role": "user", "content": XSS}]) as child:
                child.set_outputs({"href": XSS_LINK, "html": XSS})
                child.add_event(XSS, {XSS: XSS_LINK})
            root.set_outputs(XSS)
            seeded.xss_trace_id = root.trace_id
        seeded.trace_ids.append(seeded.xss_trace_id)
        assert tracelake.flush(60)

        tracelake.log_feedback(seeded.trace_ids[0], name="user_thumbs", value=True, source_id="u-7")
        tracelake.log_feedback(seeded.trace_ids[1], name="user_thumbs", value=False, rationale="wrong address")
        tracelake.log_feedback(seeded.error_trace_id, name="user_thumbs", value=False, rationale="it failed")
        tracelake.log_feedback(seeded.trace_ids[3], name="relevance", value=0.75, source_type="LLM_JUDGE")
        tracelake.log_feedback(seeded.xss_trace_id, name=XSS, value=XSS_LINK, rationale=XSS)
        seeded.thumbs_down = [seeded.trace_ids[1], seeded.error_trace_id]
    finally:
        tracelake.shutdown()
    return seeded
