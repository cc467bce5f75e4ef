from __future__ import annotations

import gc
import threading
import time
import weakref

import pytest

import tracelake
from tracelake.testing import TraceCapture


def test_start_span_api(tracelake_capture: TraceCapture) -> None:
    with tracelake.start_span("retrieve", span_type="RETRIEVER", attributes={"k": 3}) as span:
        assert isinstance(span, tracelake.LiveSpan)
        assert tracelake.get_current_span() is span
        assert tracelake.get_current_trace_id() == span.trace_id
        span.set_inputs({"query": "refund policy"})
        span.set_attribute("index", "docs-v2")
        span.set_attributes({"top_k": 3, "scores": [0.9, 0.7]})
        span.add_event("cache_miss", {"key": "refund"})
        span.set_outputs([{"id": "d1", "text": "30 days"}])
    assert tracelake.get_current_span() is None
    (stored,) = tracelake_capture.spans
    assert stored.span_type == "RETRIEVER"
    assert stored.inputs == {"query": "refund policy"}
    assert stored.outputs == [{"id": "d1", "text": "30 days"}]
    assert stored.attributes["k"] == 3
    assert stored.attributes["index"] == "docs-v2"
    assert stored.attributes["scores"] == [0.9, 0.7]
    assert stored.events[0].name == "cache_miss"
    assert stored.events[0].attributes == {"key": "refund"}
    assert stored.end_time_ns is not None and stored.end_time_ns > stored.start_time_ns


def test_span_status_and_exception_in_block(tracelake_capture: TraceCapture) -> None:
    with pytest.raises(RuntimeError), tracelake.start_span("step"):
        raise RuntimeError("tool timed out")
    with tracelake.start_span("guard", span_type="GUARDRAIL") as span:
        span.set_status("ERROR", "blocked by policy")
    with tracelake.start_span("handled") as span:
        try:
            raise TimeoutError("slow")
        except TimeoutError as exc:
            span.record_exception(exc)
    step, guard, handled = tracelake_capture.spans
    assert step.status.code.value == "ERROR"
    assert step.events[0].attributes["exception.message"] == "tool timed out"
    assert (guard.status.code.value, guard.status.message) == ("ERROR", "blocked by policy")
    assert handled.status.code.value == "OK"
    assert handled.events[0].attributes["exception.type"] == "TimeoutError"


def test_custom_span_type_string_is_kept(tracelake_capture: TraceCapture) -> None:
    with tracelake.start_span("x", span_type="MY_PLANNER"):
        pass
    assert tracelake_capture.spans[0].span_type == "MY_PLANNER"


def test_update_current_trace_reaches_the_root(tracelake_capture: TraceCapture) -> None:
    @tracelake.trace
    def inner() -> None:
        tracelake.update_current_trace(
            session_id="s-1",
            user_id="u-7",
            client_request_id="req-42",
            tags={"team": "care", "attempt": 2},
            metadata={"environment": "production", "app_version": "1.4.0"},
        )

    @tracelake.trace
    def outer() -> None:
        inner()

    outer()
    (batch,) = tracelake_capture.batches
    assert batch.fields.tags == {"team": "care", "attempt": "2"}
    assert batch.fields.metadata == {
        "environment": "production",
        "app_version": "1.4.0",
        "session_id": "s-1",
        "user_id": "u-7",
        "client_request_id": "req-42",
    }
    assert batch.fields.client_request_id == "req-42"


def test_update_outside_a_trace_is_harmless(caplog: pytest.LogCaptureFixture) -> None:
    tracelake.update_current_trace(tags={"a": "b"})
    tracelake.update_current_trace(tags={"a": "b"})
    assert sum("outside a tracelake span" in r.getMessage() for r in caplog.records) == 1


def test_environment_is_stamped_on_every_trace() -> None:
    from tracelake.testing import capture_traces

    with capture_traces(environment="staging") as capture:
        with tracelake.start_span("a"):
            pass
        with tracelake.start_span("b"):
            tracelake.update_current_trace(metadata={"environment": "override"})
        envs = [batch.fields.metadata.get("environment") for batch in capture.batches]
    assert envs == ["staging", "override"]


def test_deterministic_ids_and_clock(tracelake_capture: TraceCapture) -> None:
    with tracelake.start_span("a"), tracelake.start_span("b"):
        pass
    b, a = tracelake_capture.spans
    assert a.trace_id == "00000000000000000000000000000001"
    assert (a.span_id, b.span_id) == ("0000000000000001", "0000000000000002")
    assert b.start_time_ns - a.start_time_ns == 1_000_000


def test_threads_without_context_start_their_own_traces(tracelake_capture: TraceCapture) -> None:
    def work() -> None:
        with tracelake.start_span("in-thread"):
            pass

    with tracelake.start_span("main"):
        thread = threading.Thread(target=work)
        thread.start()
        thread.join()
    spans = {s.name: s for s in tracelake_capture.spans}
    assert spans["in-thread"].parent_id is None
    assert spans["in-thread"].trace_id != spans["main"].trace_id


def test_llm_usage_is_recorded(tracelake_capture: TraceCapture) -> None:
    with tracelake.start_span("chat", span_type="CHAT_MODEL"):
        tracelake.set_llm_usage("gpt-4o-mini", "openai", input_tokens=120, output_tokens=30)
    (span,) = tracelake_capture.spans
    assert span.model_name == "gpt-4o-mini"
    assert span.token_usage is not None
    assert (span.token_usage.input_tokens, span.token_usage.output_tokens, span.token_usage.total_tokens) == (
        120,
        30,
        150,
    )
    assert span.cost is not None and span.cost.total_cost > 0


def test_ten_thousand_span_trace(tracelake_capture: TraceCapture) -> None:
    with tracelake.start_span("root"):
        for i in range(9_999):
            with tracelake.start_span("step") as span:
                span.set_inputs(i)
    spans = tracelake_capture.spans
    assert len(spans) == 10_000
    assert len({s.span_id for s in spans}) == 10_000
    assert {s.trace_id for s in spans} == {spans[0].trace_id}


def test_an_exported_trace_is_freed_at_once_not_left_to_the_garbage_collector(
    tracelake_capture: TraceCapture,
) -> None:
    class Payload:
        """Inputs and outputs whose lifetime the test watches."""

    inputs, outputs = Payload(), Payload()
    alive = [weakref.ref(inputs), weakref.ref(outputs)]
    gc.disable()  # only reference counting frees memory now: a reference cycle would keep the trace
    try:
        with tracelake.start_span("request", inputs=inputs) as root:
            with tracelake.start_span("step"):
                pass
            root.set_outputs(outputs)
        del inputs, outputs, root
        assert len(tracelake_capture.records) == 2  # converted and exported
        # The export thread lets go of its batch just after the flush returns.
        deadline = time.monotonic() + 10
        while any(ref() is not None for ref in alive) and time.monotonic() < deadline:
            time.sleep(0.01)
        assert [ref() for ref in alive] == [None, None]
    finally:
        gc.enable()
