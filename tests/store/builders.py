"""Build spans and batches for store tests with short integer ids and millisecond times."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

from tracelake.model import Cost, Span, SpanStatus, StatusCode, TokenUsage, TraceBatch, TraceFields

MS = 1_000_000
T0_MS = 1_700_000_000_000


def trace_id(n: int) -> str:
    return f"{n:032x}"


def span_id(n: int) -> str:
    return f"{n:016x}"


def make_span(
    trace: int,
    span: int,
    parent: int | None,
    start_ms: int,
    end_ms: int | None,
    *,
    name: str | None = None,
    status: StatusCode = StatusCode.OK,
    tokens: tuple[int, int] | None = None,
    cost: float | None = None,
    inputs: Any = None,
    outputs: Any = None,
) -> Span:
    """A span of trace `trace`; times are milliseconds after T0_MS."""
    return Span(
        trace_id=trace_id(trace),
        span_id=span_id(span),
        parent_id=None if parent is None else span_id(parent),
        name=name or f"span-{span}",
        span_type="LLM" if tokens else "CHAIN",
        start_time_ns=(T0_MS + start_ms) * MS,
        end_time_ns=None if end_ms is None else (T0_MS + end_ms) * MS,
        status=SpanStatus(status, "boom" if status == StatusCode.ERROR else ""),
        inputs=inputs,
        outputs=outputs,
        attributes={"n": span},
        model_name="gpt-test" if tokens else None,
        token_usage=None if tokens is None else TokenUsage(tokens[0], tokens[1], sum(tokens)),
        cost=None if cost is None else Cost(cost / 2, cost / 2, cost),
    )


def make_batch(spans: Iterable[Span], *, counted: Iterable[int] = (), **fields: Any) -> TraceBatch:
    spans = list(spans)
    return TraceBatch(
        trace_id=spans[0].trace_id,
        spans=spans,
        fields=TraceFields(**fields),
        counted_span_ids=frozenset(span_id(n) for n in counted),
    )


def simple_trace(trace: int, start_ms: int = 0, children: int = 2, **fields: Any) -> TraceBatch:
    """A finished trace: a root (span 1) with `children` children (spans 2…), all OK."""
    root = make_span(trace, 1, None, start_ms, start_ms + 100, name="root")
    kids = [make_span(trace, 2 + i, 1, start_ms + 10 + i, start_ms + 20 + i) for i in range(children)]
    return make_batch([root, *kids], **fields)


def pack_names(artifact_location: str | Path) -> list[str]:
    """The payload packs under an experiment's (local) artifact location."""
    folder = Path(artifact_location) / "packs"
    return sorted(path.name for path in folder.iterdir()) if folder.exists() else []
