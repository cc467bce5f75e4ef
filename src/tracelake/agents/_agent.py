"""`ResponsesAgent`: the base class of an agent served by tracelake, traced as an AGENT span with no extra code.

A subclass implements `predict` (a whole response) and/or `predict_stream` (stream events). Both may
be plain or `async` functions (`predict_stream` a generator or an async generator). When the
subclass is defined, tracelake wraps the methods it defines so that every call:

- accepts a `ResponsesRequest` or a plain dict (validated into one);
- is recorded as an AGENT span named after the method (`SupportAgent.predict`) whose inputs are
  the request and whose outputs are the response, or, for a stream, the response the events
  amount to (`reduce_stream`);
- returns a `ResponsesResponse` (a dict returned by `predict` is validated into one) and yields
  `ResponsesStreamEvent`s.

The one the subclass leaves out is derived from the other: `predict` of a streaming agent collects
its stream, `predict_stream` of a plain agent replays its response as events.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import AsyncIterator, Callable, Iterator, Mapping
from contextvars import ContextVar
from typing import Any

import orjson

from tracelake.agents._stream import reduce_stream, response_events
from tracelake.agents._types import ResponsesRequest, ResponsesResponse, ResponsesStreamEvent
from tracelake.model import SpanType
from tracelake.tracing import RUNTIME, LiveSpan, start_span, trace

__all__ = ["ResponsesAgent", "set_agent"]

RequestLike = ResponsesRequest | Mapping[str, Any]
_AGENT = SpanType.AGENT.value

# Set by `tracelake.agents.loading` while it runs an agent's code file: the config handed to agents
# created meanwhile, and where `set_agent` puts the agent the file names.
LOADING_CONFIG: ContextVar[Mapping[str, Any] | None] = ContextVar("tracelake_agent_config", default=None)
LOADING_AGENTS: ContextVar[list[ResponsesAgent] | None] = ContextVar("tracelake_loading_agents", default=None)


class ResponsesAgent:
    """Base class of an agent: implement `predict`, `predict_stream`, or both.

    Example:
        class SupportAgent(ResponsesAgent):
            def predict(self, request: ResponsesRequest) -> ResponsesResponse:
                question = request.input[-1].text
                return ResponsesResponse(output=[text_output_item(f"You asked: {question}")])

    `self.config` is the agent's configuration (a dict, empty unless the agent was loaded with
    one, e.g. the `config` of `log_agent` or `tracelake serve --config`); it is already set when
    the subclass's `__init__` runs.
    """

    _config: dict[str, Any]

    def __new__(cls, *args: Any, **kwargs: Any) -> ResponsesAgent:
        if not (_overrides(cls, "predict") or _overrides(cls, "predict_stream")):
            raise TypeError(f"{cls.__qualname__} must implement predict or predict_stream")
        agent = super().__new__(cls)
        agent._config = dict(LOADING_CONFIG.get() or {})
        return agent

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        for name in ("predict", "predict_stream"):
            method = cls.__dict__.get(name)
            if callable(method) and not getattr(method, "__tracelake_agent_method__", False):
                setattr(cls, name, _traced_predict(method) if name == "predict" else _traced_stream(method))

    @property
    def config(self) -> dict[str, Any]:
        """The agent's configuration (a dict; empty by default)."""
        return self._config

    @config.setter
    def config(self, value: Mapping[str, Any]) -> None:
        self._config = dict(value)

    def predict(self, request: RequestLike) -> ResponsesResponse:
        """Answer a request with a whole response (derived from `predict_stream` unless overridden).

        Raises:
            TypeError: the agent's `predict_stream` is async; call it (or an async `predict`) instead.
        """
        stream = self.predict_stream(request)
        if not isinstance(stream, Iterator):
            raise TypeError(f"{type(self).__qualname__}.predict_stream is async: iterate it with `async for`")
        return reduce_stream(stream)

    def predict_stream(self, request: RequestLike) -> Iterator[ResponsesStreamEvent]:
        """Answer a request with stream events (derived from `predict` unless overridden).

        Raises:
            TypeError: the agent's `predict` is async; await it instead.
        """
        response = self.predict(request)
        if inspect.isawaitable(response):
            response.close()  # type: ignore[attr-defined]
            raise TypeError(f"{type(self).__qualname__}.predict is async: await it")
        yield from response_events(response)


def set_agent(agent: ResponsesAgent) -> ResponsesAgent:
    """Name the agent a code file serves (call it at the end of the file given to `log_agent` or `serve`).

    Needed only when the file defines several `ResponsesAgent` classes or builds its agent with
    arguments; otherwise the file's one subclass is instantiated without arguments.

    Returns:
        The agent, unchanged.

    Raises:
        TypeError: `agent` is not a `ResponsesAgent`.
    """
    if not isinstance(agent, ResponsesAgent):
        raise TypeError(f"set_agent() needs a ResponsesAgent instance, got {type(agent).__name__}")
    collected = LOADING_AGENTS.get()
    if collected is not None:
        collected.append(agent)
    return agent


def overrides(agent: ResponsesAgent, name: str) -> bool:
    """True when the agent's class implements `name` ("predict" or "predict_stream") itself."""
    return _overrides(type(agent), name)


def is_async(agent: ResponsesAgent, name: str) -> bool:
    """True when the agent's `name` method is `async` (a coroutine, or an async generator for streams)."""
    return bool(getattr(getattr(type(agent), name, None), "__tracelake_async__", False))


def _overrides(cls: type, name: str) -> bool:
    return getattr(cls, name, None) is not getattr(ResponsesAgent, name)


def _as_response(value: Any) -> ResponsesResponse:
    return ResponsesResponse.coerce(value)


def _traced_predict(method: Callable[..., Any]) -> Callable[..., Any]:
    name = method.__qualname__
    if inspect.iscoroutinefunction(method):

        async def async_predict(self: ResponsesAgent, request: RequestLike) -> ResponsesResponse:
            request = ResponsesRequest.coerce(request)
            if not RUNTIME.enabled:
                return _as_response(await method(self, request))
            with start_span(name, _AGENT) as span:
                live = type(span) is LiveSpan
                if live:
                    span.set_inputs({"request": _json_of(request)})
                response = _as_response(await method(self, request))
                if live:
                    span.set_outputs(_json_of(response))
            return response

        return _mark(async_predict, method)

    def predict(self: ResponsesAgent, request: RequestLike) -> ResponsesResponse:
        request = ResponsesRequest.coerce(request)
        if not RUNTIME.enabled:
            return _as_response(method(self, request))
        with start_span(name, _AGENT) as span:
            live = type(span) is LiveSpan
            if live:
                span.set_inputs({"request": _json_of(request)})
            response = _as_response(method(self, request))
            if live:
                span.set_outputs(_json_of(response))
        return response

    return _mark(predict, method)


def _json_of(model: ResponsesRequest | ResponsesResponse) -> Any:
    """The model as JSON now, for a span's inputs or outputs; the model itself if that fails.

    Serialised on the caller's thread, by pydantic's own serializer (about as fast as keeping the
    model for the export thread to serialise): the span then holds one bytes object instead of the
    model's whole tree until it is exported, which in a busy endpoint is garbage the collector
    walks again and again. On failure (a value pydantic cannot serialise in `custom_inputs`), the
    export thread's tolerant serialiser gets the model.
    """
    try:
        return orjson.Fragment(type(model).__pydantic_serializer__.to_json(model))
    except Exception:
        return model


def _traced_stream(method: Callable[..., Any]) -> Callable[..., Any]:
    if inspect.isasyncgenfunction(method):

        async def async_inner(self: ResponsesAgent, request: ResponsesRequest) -> AsyncIterator[ResponsesStreamEvent]:
            async for event in method(self, request):
                yield ResponsesStreamEvent.coerce(event)

        traced_async = trace(name=method.__qualname__, span_type=SpanType.AGENT, output_reducer=_reduce)(async_inner)

        def async_stream(self: ResponsesAgent, request: RequestLike) -> AsyncIterator[ResponsesStreamEvent]:
            stream: AsyncIterator[ResponsesStreamEvent] = traced_async(self, ResponsesRequest.coerce(request))
            return stream

        return _mark(async_stream, method)

    def inner(self: ResponsesAgent, request: ResponsesRequest) -> Iterator[ResponsesStreamEvent]:
        for event in method(self, request):
            yield ResponsesStreamEvent.coerce(event)

    traced = trace(name=method.__qualname__, span_type=SpanType.AGENT, output_reducer=_reduce)(inner)

    def predict_stream(self: ResponsesAgent, request: RequestLike) -> Iterator[ResponsesStreamEvent]:
        stream: Iterator[ResponsesStreamEvent] = traced(self, ResponsesRequest.coerce(request))
        return stream

    return _mark(predict_stream, method)


def _reduce(events: list[Any]) -> Any:
    """A stream's AGENT span outputs: the response its events amount to, as JSON (see `_json_of`)."""
    return _json_of(reduce_stream(events))


def _mark(wrapper: Callable[..., Any], method: Callable[..., Any]) -> Callable[..., Any]:
    wrapped = functools.wraps(method)(wrapper)
    wrapped.__tracelake_agent_method__ = True  # type: ignore[attr-defined]
    wrapped.__tracelake_async__ = inspect.iscoroutinefunction(method) or inspect.isasyncgenfunction(method)  # type: ignore[attr-defined]
    return wrapped
