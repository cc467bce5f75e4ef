"""autolog's contract: what it turns on and off, and that it never breaks the app."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import openai
import pytest

import tracelake
from tracelake.testing import TraceCapture


@pytest.fixture(autouse=True)
def _untraced_after() -> Iterator[None]:
    yield
    tracelake.autolog(disable=True)


def _chat(client: openai.OpenAI) -> None:
    client.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}])


def test_autolog_traces_installed_libraries_only(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="tracelake")
    # openai and its instrumentor are installed (dev dependencies); anthropic is not.
    assert tracelake.autolog() == ["openai"]
    assert tracelake.autolog(libraries=["anthropic"]) == []


def test_unknown_library_is_a_clear_error() -> None:
    with pytest.raises(tracelake.ConfigError, match="openaii"):
        tracelake.autolog(libraries=["openaii"])


def test_calling_twice_traces_each_call_once(tracelake_capture: TraceCapture, client: openai.OpenAI) -> None:
    tracelake.autolog(libraries=["openai"])
    tracelake.autolog(libraries="openai")  # type: ignore[arg-type]  # a lone name is accepted too
    _chat(client)

    assert [span.span_type for span in tracelake_capture.spans] == ["LLM"]


def test_disable_stops_tracing(tracelake_capture: TraceCapture, client: openai.OpenAI) -> None:
    tracelake.autolog(libraries=["openai"])
    assert tracelake.autolog(disable=True) == ["openai"]
    assert tracelake.autolog(disable=True) == []  # nothing left to turn off
    _chat(client)

    assert tracelake_capture.spans == []


def test_tracing_off_instruments_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRACELAKE_TRACING", "false")
    tracelake.configure()

    assert tracelake.autolog() == []


def test_sampled_out_traces_record_no_llm_span(client: openai.OpenAI) -> None:
    from tracelake.testing import capture_traces

    with capture_traces(sampling_ratio=0.0) as capture:
        tracelake.autolog(libraries=["openai"])
        with tracelake.start_span("agent"):
            _chat(client)
        _chat(client)  # a root call follows tracelake's ratio too

        assert capture.spans == []


def test_a_library_the_app_instrumented_itself_is_left_alone() -> None:
    from openinference.instrumentation.openai import OpenAIInstrumentor
    from opentelemetry.sdk.trace import TracerProvider

    instrumentor = OpenAIInstrumentor()
    instrumentor.instrument(tracer_provider=TracerProvider())
    try:
        assert tracelake.autolog(libraries=["openai"]) == []
        assert tracelake.autolog(disable=True) == []  # not autolog's to turn off
        assert instrumentor.is_instrumented_by_opentelemetry
    finally:
        instrumentor.uninstrument()
