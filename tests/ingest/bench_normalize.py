"""Throughput of `normalize` on tracelake-SDK-style records (not collected by pytest).

Run: `PYTHONPATH=src .venv/bin/python tests/ingest/bench_normalize.py`
"""

from __future__ import annotations

import time

import orjson

from tracelake.ingest import normalize
from tracelake.model import SpanRecord, StatusCode

RESOURCE = {"service.name": "support-agent", "telemetry.sdk.language": "python", "telemetry.sdk.name": "tracelake"}


def make_trace(n: int, with_llm: bool) -> list[SpanRecord]:
    trace_id = f"{n:032x}"
    root_id = f"{n:012x}0001"
    t0 = 1_700_000_000_000_000_000 + n * 1_000_000
    question = {"messages": [{"role": "user", "content": f"How do I reset my password? ({n})"}]}
    records = [
        SpanRecord(
            trace_id,
            f"{n:012x}{i + 2:04x}",
            root_id,
            name,
            t0 + 1000 * i,
            t0 + 1000 * i + 500,
            StatusCode.OK,
            attributes={
                "tracelake.span.type": span_type,
                "tracelake.span.function": f"app.{name}",
                "tracelake.span.inputs": orjson.dumps({"query": f"reset password {n}", "k": 3}).decode(),
                "tracelake.span.outputs": orjson.dumps([{"id": "doc-1", "score": 0.9}]).decode(),
            },
            resource_attributes=RESOURCE,
        )
        for i, (name, span_type) in enumerate([("retrieve", "RETRIEVER"), ("rerank", "RERANKER"), ("plan", "CHAIN")])
    ]
    llm_attrs = {
        "tracelake.span.type": "CHAT_MODEL",
        "tracelake.span.inputs": orjson.dumps(question).decode(),
        "tracelake.span.outputs": orjson.dumps(
            {"choices": [{"message": {"role": "assistant", "content": "Go to settings."}}]}
        ).decode(),
    }
    if with_llm:
        llm_attrs |= {
            "tracelake.llm.model": "gpt-4o-mini",
            "tracelake.llm.provider": "openai",
            "tracelake.llm.token_usage": orjson.dumps({"input_tokens": 120 + n % 50, "output_tokens": 30}).decode(),
        }
    records.append(
        SpanRecord(
            trace_id,
            f"{n:012x}0009",
            root_id,
            "chat",
            t0 + 5000,
            t0 + 9000,
            attributes=llm_attrs,
            resource_attributes=RESOURCE,
        )
    )
    records.append(
        SpanRecord(
            trace_id,
            root_id,
            None,
            "agent",
            t0,
            t0 + 10_000,
            StatusCode.OK,
            attributes={
                "tracelake.span.type": "AGENT",
                "tracelake.span.inputs": orjson.dumps(question).decode(),
                "tracelake.span.outputs": '"Go to settings."',
                "tracelake.trace.metadata": orjson.dumps({"session_id": f"s-{n % 100}", "user_id": "u-1"}).decode(),
                "tracelake.trace.tags": '{"release": "1.2.3"}',
            },
            resource_attributes=RESOURCE,
        )
    )
    return records


def bench(with_llm: bool, chunk: int, n_spans: int = 20_000) -> float:
    """Best-of-5 spans per CPU-second normalising `n_spans` records, `chunk` records per call."""
    records = [r for n in range(n_spans // 5) for r in make_trace(n, with_llm)]
    normalize(records[:50])  # warm up (the first priced span imports genai-prices)
    best = float("inf")
    for _ in range(5):
        start = time.process_time()
        for i in range(0, len(records), chunk):
            normalize(records[i : i + chunk])
        best = min(best, time.process_time() - start)
    return len(records) / best


if __name__ == "__main__":
    for with_llm, label in ((False, "no LLM usage"), (True, "1 in 5 spans a priced LLM call")):
        for chunk in (20_000, 512):
            print(f"{label:<32} {chunk:>6} records/call: {bench(with_llm, chunk):>9,.0f} spans/CPU-s")
