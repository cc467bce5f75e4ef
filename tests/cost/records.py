"""Span records as tracelake's SDK exports them, for driving ingest and the store directly."""

from __future__ import annotations

import json

from tracelake.model import SpanAttributes, SpanRecord, StatusCode

MS = 1_000_000
T0_NS = 1_760_000_000_000 * MS  # 2025-10: inside every price entry's validity


def record(
    trace: int,
    span: int,
    parent: int | None,
    *,
    tokens: tuple[int, int] | None = None,
    cached: int = 0,
    model: str = "gpt-4o-mini",
    provider: str | None = "openai",
    cost: float | None = None,
) -> SpanRecord:
    attributes: dict[str, object] = {SpanAttributes.SPAN_TYPE: "LLM" if tokens else "CHAIN"}
    if tokens is not None:
        attributes[SpanAttributes.MODEL] = model
        if provider is not None:
            attributes[SpanAttributes.PROVIDER] = provider
        usage = {"input_tokens": tokens[0], "output_tokens": tokens[1], "cached_input_tokens": cached}
        attributes[SpanAttributes.TOKEN_USAGE] = json.dumps(usage)
    if cost is not None:
        attributes[SpanAttributes.COST] = json.dumps({"total_cost": cost})
    return SpanRecord(
        trace_id=f"{trace:032x}",
        span_id=f"{span:016x}",
        parent_span_id=None if parent is None else f"{parent:016x}",
        name=f"span-{span}",
        start_time_ns=T0_NS + span * MS,
        end_time_ns=T0_NS + (100 - span) * MS,
        status_code=StatusCode.OK,
        attributes=attributes,
    )
