"""The archive's rows hold every trace exactly as the store serves it, however its spans were stored."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from store.builders import make_batch, make_span, trace_id
from tracelake.model import Span, SpanEvent
from tracelake.monitoring.archive import settings as st
from tracelake.monitoring.archive.sync import run_sync
from tracelake.store import SqlTraceStore
from tracelake.store.artifacts import TracePayloads
from tracelake.store.sql.schema import trace_segments, traces

from .conftest import read

# Keys orjson writes as strings (1 -> "1"), text that needs escapes, floats and big integers.
ODD_VALUE = {"ключ": 'значение 😀 \u0001 "q" \\', 1: "int key", "n": [1.5, -0.0, 1e-7, 2**62, None, True, {}]}


def _odd(span: Span) -> Span:
    span.attributes = {2: "two", "nested": {3: [4]}}
    span.events.append(SpanEvent("exception", span.start_time_ns + 1, {"exception.message": "boom ✓", 7: [1, 2]}))
    span.inputs = ODD_VALUE
    return span


def _write_awkward_traces(store: SqlTraceStore, experiment_id: str) -> list[str]:
    """Traces whose stored spans take every way of reading: return their ids."""
    # 1. Compacted, parents first: one stored object in the order the store serves.
    store.write_batches(experiment_id, [make_batch([make_span(1, 1, None, 0, 100), make_span(1, 2, 1, 10, 20)])])
    # 2. Children first in one write, as exporters send them (children end first).
    kids = [_odd(make_span(2, 2 + i, 1, 10 + 5 * (3 - i), 90 - i, outputs=[i])) for i in range(3)]
    store.write_batches(experiment_id, [make_batch([*kids, make_span(2, 1, None, 0, 100, inputs={"q": "é"})])])
    # 3. A child starting before its parent, a parent cycle and a span whose parent never came.
    odd = [
        make_span(3, 1, None, 10, 100),
        make_span(3, 2, 1, 5, 50),
        make_span(3, 3, 2, 1, 20),
        make_span(3, 4, 5, 30, 40),
        make_span(3, 5, 4, 31, 41),
        make_span(3, 6, 99, 2, 3),
    ]
    store.write_batches(experiment_id, [make_batch(odd)])
    # 4. Spans in several writes before the root: one stored object each, a span re-sent finished.
    for version in range(3):
        late = [make_span(4, 2, 1, 12, None if version < 2 else 44, outputs={"v": version})]
        store.write_batches(experiment_id, [make_batch([*late, make_span(4, 3 + version, 1, 12 - version, 40)])])
    # 5. Written before payload packs: a per-trace object, and a later span in a pack.
    store.write_batches(experiment_id, [make_batch([make_span(5, 1, None, 0, 100), make_span(5, 2, 1, 1, 2)])])
    with store.engine.begin() as connection:
        uri = connection.execute(sa.select(traces.c.payload_uri).where(traces.c.trace_id == trace_id(5))).scalar_one()
        TracePayloads().write_segment(uri, store.get_spans(trace_id(5)), first=True)
        connection.execute(sa.delete(trace_segments).where(trace_segments.c.trace_id == trace_id(5)))
        connection.execute(sa.update(traces).where(traces.c.trace_id == trace_id(5)).values(payload_format=1))
    store.write_batches(experiment_id, [make_batch([make_span(5, 9, 1, 50, 60, outputs="later")])])
    return [trace_id(n) for n in range(1, 6)]


def _as_served(value: Any) -> Any:
    """A value as the REST API's JSON has it (non-string keys become strings)."""
    return json.loads(json.dumps(value))


def _parsed(text: str | None) -> Any:
    return None if text is None else json.loads(text)


def test_every_trace_is_archived_as_the_store_serves_it(store: SqlTraceStore, tmp_path: Path) -> None:
    lake = tmp_path / "lake"
    experiment_id = store.create_experiment("awkward").experiment_id
    st.enable(store.engine, experiment_id, str(lake), 60)
    ids = _write_awkward_traces(store, experiment_id)

    result = run_sync(store, experiment_id, settle_ms=0)

    served = {trace: [span.to_dict() for span in store.get_spans(trace)] for trace in ids}
    assert result.traces == 5 and result.spans == sum(len(spans) for spans in served.values())
    trace_rows = {row["trace_id"]: row for row in read(lake, "traces")}
    span_rows = {(row["trace_id"], row["span_id"]): row for row in read(lake, "spans")}
    assert len(span_rows) == result.spans
    for trace in ids:
        row = trace_rows[trace]
        # The whole trace, spans in the served order (parents first, by start time).
        assert json.loads(row["spans"]) == _as_served(served[trace])
        assert row["span_count"] == len(served[trace])
        assert _parsed(row["request"]) == _as_served(served[trace][0]["inputs"])  # the root's
        assert _parsed(row["response"]) == _as_served(served[trace][0]["outputs"])
        for span in served[trace]:
            flat = span_rows[(trace, span["span_id"])]
            assert flat["parent_span_id"] == span["parent_id"] and flat["name"] == span["name"]
            assert (flat["status_code"], flat["status_message"]) == (span["status"]["code"], span["status"]["message"])
            assert (flat["start_time_ns"], flat["end_time_ns"]) == (span["start_time_ns"], span["end_time_ns"])
            for column in ("inputs", "outputs", "attributes", "events"):
                assert _parsed(flat[column]) == _as_served(span[column])
    # The re-sent span is there once, finished; the odd values came through whole.
    resent = span_rows[(trace_id(4), f"{2:016x}")]
    assert resent["end_time_ns"] is not None and json.loads(resent["outputs"]) == {"v": 2}
    odd_span = span_rows[(trace_id(2), f"{3:016x}")]
    assert json.loads(odd_span["inputs"]) == _as_served(ODD_VALUE)
    assert json.loads(odd_span["attributes"]) == {"2": "two", "nested": {"3": [4]}}
    assert [span["span_id"] for span in json.loads(trace_rows[trace_id(3)]["spans"])][:3] == [
        f"{n:016x}" for n in (6, 1, 2)
    ]
