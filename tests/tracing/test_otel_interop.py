from __future__ import annotations

from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

import tracelake
from tracelake.testing import TraceCapture
from tracelake.tracing.otel import span_processor


def _app_provider() -> tuple[TracerProvider, InMemorySpanExporter]:
    """An application's own OpenTelemetry setup, with tracelake's processor added to it."""
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    provider.add_span_processor(span_processor())
    return provider, exporter


def test_otel_span_inside_tracelake_span_joins_the_trace(tracelake_capture: TraceCapture) -> None:
    provider, exporter = _app_provider()
    tracer = provider.get_tracer("http-client")
    with (
        tracelake.start_span("agent", span_type="AGENT") as agent,
        tracer.start_as_current_span("GET /orders") as http_span,
    ):
        http_span.set_attribute("http.method", "GET")
        with tracelake.start_span("parse") as parse:
            pass
    (otel_span,) = exporter.get_finished_spans()
    assert f"{otel_span.context.trace_id:032x}" == agent.trace_id
    assert f"{otel_span.parent.span_id:016x}" == agent.span_id  # type: ignore[union-attr]
    spans = {s.name: s for s in tracelake_capture.spans}
    assert set(spans) == {"agent", "GET /orders", "parse"}
    assert spans["GET /orders"].parent_id == agent.span_id
    assert spans["parse"].parent_id == spans["GET /orders"].span_id
    assert parse.trace_id == agent.trace_id
    assert spans["GET /orders"].attributes["http.method"] == "GET"


def test_tracelake_span_inside_otel_span_takes_its_parent(tracelake_capture: TraceCapture) -> None:
    provider, _ = _app_provider()
    tracer = provider.get_tracer("web")
    with tracer.start_as_current_span("POST /chat") as request_span:

        @tracelake.trace(span_type="AGENT")
        def answer() -> str:
            return "hi"

        answer()
    spans = {s.name: s for s in tracelake_capture.spans}
    root = spans["POST /chat"]
    assert root.parent_id is None
    assert spans["test_tracelake_span_inside_otel_span_takes_its_parent.<locals>.answer"].parent_id == root.span_id
    assert root.trace_id == f"{request_span.get_span_context().trace_id:032x}"


def test_w3c_traceparent_round_trip(tracelake_capture: TraceCapture) -> None:
    with tracelake.start_span("caller") as caller:
        headers = tracelake.get_tracing_headers()
    assert headers["traceparent"] == f"00-{caller.trace_id}-{caller.span_id}-01"
    with tracelake.continue_trace({"Traceparent": headers["traceparent"]}), tracelake.start_span("tool-service"):
        pass
    spans = {s.name: s for s in tracelake_capture.spans}
    assert spans["tool-service"].trace_id == caller.trace_id
    assert spans["tool-service"].parent_id == caller.span_id


def test_unsampled_upstream_is_respected(tracelake_capture: TraceCapture) -> None:
    header = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-00"
    with tracelake.continue_trace({"traceparent": header}), tracelake.start_span("downstream") as span:
        assert isinstance(span, tracelake.NoOpSpan)
    assert tracelake_capture.records == []
