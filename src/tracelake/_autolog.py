"""`tracelake.autolog()`: trace the installed LLM and agent libraries through OpenInference instrumentors.

tracelake writes no instrumentation of its own for these libraries: each OpenInference instrumentor
(a PyPI package, `openinference-instrumentation-<library>`) wraps its library and emits OpenTelemetry
spans, which `tracelake.ingest` maps to span types, inputs, outputs, model, token usage and cost.

The instrumentors get a TracerProvider of tracelake's own, never the global one: an application's
provider is left untouched, and the instrumentors' spans still join tracelake's traces because
every provider shares OpenTelemetry's context (an instrumented call inside `@tracelake.trace` is its
child, and a tracelake span inside an instrumented call is the call's child). Its sampler follows the
parent span, or tracelake's sampling ratio for a call that starts a trace.

The module is imported by `import tracelake`, so it imports nothing heavy at module level.
"""

from __future__ import annotations

import importlib
import importlib.util
import logging
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from tracelake.exceptions import ConfigError

if TYPE_CHECKING:
    from opentelemetry.sdk.trace import TracerProvider

__all__ = ["INTEGRATIONS", "Integration", "autolog"]

_logger = logging.getLogger("tracelake")


@dataclass(frozen=True)
class Integration:
    """A library autolog can trace, and the OpenInference instrumentor that does it."""

    name: str
    """What `autolog(libraries=[...])` calls it."""
    library: str
    """Module whose presence means the library is installed."""
    instrumentor_module: str
    instrumentor_class: str

    @property
    def package(self) -> str:
        """The PyPI package of the instrumentor."""
        return "openinference-instrumentation-" + self.instrumentor_module.rsplit(".", 1)[1].replace("_", "-")


def _integration(name: str, library: str, module: str, cls: str) -> Integration:
    return Integration(name, library, f"openinference.instrumentation.{module}", cls)


#: Every library autolog knows, in the order they are instrumented.
INTEGRATIONS: tuple[Integration, ...] = (
    _integration("openai", "openai", "openai", "OpenAIInstrumentor"),
    _integration("openai_agents", "agents", "openai_agents", "OpenAIAgentsInstrumentor"),
    _integration("anthropic", "anthropic", "anthropic", "AnthropicInstrumentor"),
    _integration("langchain", "langchain_core", "langchain", "LangChainInstrumentor"),
    _integration("llama_index", "llama_index.core", "llama_index", "LlamaIndexInstrumentor"),
    _integration("litellm", "litellm", "litellm", "LiteLLMInstrumentor"),
    _integration("dspy", "dspy", "dspy", "DSPyInstrumentor"),
    _integration("bedrock", "boto3", "bedrock", "BedrockInstrumentor"),
    _integration("google_genai", "google.genai", "google_genai", "GoogleGenAIInstrumentor"),
    _integration("vertexai", "vertexai", "vertexai", "VertexAIInstrumentor"),
    _integration("mistralai", "mistralai", "mistralai", "MistralAIInstrumentor"),
    _integration("groq", "groq", "groq", "GroqInstrumentor"),
    _integration("crewai", "crewai", "crewai", "CrewAIInstrumentor"),
    _integration("haystack", "haystack", "haystack", "HaystackInstrumentor"),
    _integration("smolagents", "smolagents", "smolagents", "SmolagentsInstrumentor"),
    _integration("instructor", "instructor", "instructor", "InstructorInstrumentor"),
    _integration("mcp", "mcp", "mcp", "MCPInstrumentor"),
)
_BY_NAME = {integration.name: integration for integration in INTEGRATIONS}

_lock = threading.Lock()
# Instrumentors autolog turned on (and so may turn off), by integration name.
_active: dict[str, Any] = {}
_provider: TracerProvider | None = None


def autolog(
    disable: bool = False, libraries: Iterable[str] | None = None, tracer_provider: TracerProvider | None = None
) -> list[str]:
    """Trace the LLM and agent libraries that are installed, through their OpenInference instrumentors.

    A library is traced when both it and its instrumentor (`openinference-instrumentation-<name>`,
    or `pip install 'tracelake[autolog]'` for the common ones) are installed. Calling it again is
    harmless: libraries already traced stay as they are. Never raises for a library that fails to
    instrument: the failure is logged (logger `tracelake`) and the library left out.

    Args:
        disable: turn tracing of the libraries off again (those autolog turned on).
        libraries: names of integrations (`"openai"`, `"anthropic"`, `"langchain"`, ...; the list
            is in docs/autolog.md) to limit autolog to; all known ones when None.
        tracer_provider: the OpenTelemetry provider the instrumentors should use; by default a
            provider of tracelake's own that sends their spans to tracelake. Pass yours to keep
            the spans in your pipeline too, and add `tracelake.tracing.otel.span_processor()` to it.

    Returns:
        The names of the libraries autolog traces now (or, with `disable=True`, no longer traces); a
        library the application instrumented itself is not among them and is left as it is.

    Raises:
        ConfigError: a name in `libraries` is not a known integration.
    """
    chosen = _choose(libraries)
    with _lock:
        if disable:
            return _disable(chosen)
        from tracelake.tracing import RUNTIME

        RUNTIME.ensure_configured()
        if not RUNTIME.enabled:
            _logger.info("tracelake: tracing is off (TRACELAKE_TRACING=false); autolog instruments nothing")
            return []
        provider = tracer_provider or _own_provider()
        traced = []
        for integration in chosen:
            if integration.name in _active or _instrument(integration, provider):
                traced.append(integration.name)
        return traced


def _choose(libraries: Iterable[str] | None) -> Sequence[Integration]:
    if libraries is None:
        return INTEGRATIONS
    names = [libraries] if isinstance(libraries, str) else list(libraries)
    unknown = [name for name in names if name not in _BY_NAME]
    if unknown:
        known = ", ".join(sorted(_BY_NAME))
        raise ConfigError(f"autolog does not know the libraries {unknown}; known: {known}")
    return [_BY_NAME[name] for name in names]


def _installed(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):  # a parent package that is missing or broken
        return False


def _instrument(integration: Integration, provider: Any) -> bool:
    if not _installed(integration.library):
        return False
    if not _installed(integration.instrumentor_module):
        _logger.info("tracelake: %s is installed but not traced: pip install %s", integration.name, integration.package)
        return False
    try:
        instrumentor = getattr(
            importlib.import_module(integration.instrumentor_module), integration.instrumentor_class
        )()
        if instrumentor.is_instrumented_by_opentelemetry:
            # Someone else (the app) instrumented it: its spans already go where the app wants.
            _logger.info("tracelake: %s is already instrumented; autolog leaves it", integration.name)
            return False
        instrumentor.instrument(tracer_provider=provider)
        if not instrumentor.is_instrumented_by_opentelemetry:
            # The instrumentor refused, e.g. the installed library's version is outside its range.
            _logger.warning("tracelake: %s could not be instrumented (see the log above)", integration.name)
            return False
    except Exception:
        _logger.warning("tracelake: instrumenting %s failed; it is not traced", integration.name, exc_info=True)
        return False
    _active[integration.name] = instrumentor
    return True


def _disable(chosen: Sequence[Integration]) -> list[str]:
    stopped = []
    for integration in chosen:
        instrumentor = _active.pop(integration.name, None)
        if instrumentor is None:
            continue
        try:
            instrumentor.uninstrument()
        except Exception:
            _logger.warning("tracelake: uninstrumenting %s failed", integration.name, exc_info=True)
        stopped.append(integration.name)
    return stopped


def _own_provider() -> TracerProvider:
    """The provider autolog's instrumentors share: spans go to tracelake, sampling follows tracelake."""
    global _provider
    if _provider is None:
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider

        from tracelake.tracing import RUNTIME
        from tracelake.tracing.otel import span_processor

        attributes = {} if RUNTIME.environment is None else {"deployment.environment.name": RUNTIME.environment}
        _provider = TracerProvider(sampler=_follow_tracelake(), resource=Resource.create(attributes))
        _provider.add_span_processor(span_processor())
    return _provider


def _follow_tracelake() -> Any:
    from opentelemetry import trace as otel_trace
    from opentelemetry.sdk.trace.sampling import Decision, Sampler, SamplingResult

    from tracelake.tracing import RUNTIME

    full = 1 << 64

    class FollowTracelake(Sampler):
        """Sample with the parent span; a call that starts a trace is sampled as tracelake samples roots."""

        def should_sample(
            self,
            parent_context: Any,
            trace_id: int,
            name: str,
            kind: Any = None,
            attributes: Any = None,
            links: Any = None,
            trace_state: Any = None,
        ) -> SamplingResult:
            parent = otel_trace.get_current_span(parent_context).get_span_context()
            if parent.is_valid:
                sampled = parent.trace_flags.sampled
                trace_state = parent.trace_state
            else:
                threshold = RUNTIME.sample_threshold
                sampled = RUNTIME.enabled and (threshold >= full or (trace_id & (full - 1)) < threshold)
            decision = Decision.RECORD_AND_SAMPLE if sampled else Decision.DROP
            return SamplingResult(decision, attributes if sampled else None, trace_state)

        def get_description(self) -> str:
            return "FollowTracelake"

    return FollowTracelake()
