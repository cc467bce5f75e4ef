"""`@trace`: record a function call (sync, async, generator or async generator) as a span.

All inspection happens once, when the decorator is applied; each call pays for creating the span,
making it current, and keeping references to its arguments and result.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import AsyncIterator, Callable, Generator
from contextvars import Token
from typing import Any, TypeVar, overload

from opentelemetry import context as otel_context
from opentelemetry import trace as otel_trace
from opentelemetry.context import Context

from tracelake.model import SpanType, StatusCode
from tracelake.tracing._errors import log_once
from tracelake.tracing._runtime import RUNTIME
from tracelake.tracing._span import _UNSET as _NO_OUTPUT
from tracelake.tracing._span import LiveSpan, NoOpSpan

F = TypeVar("F", bound=Callable[..., Any])
OutputReducer = Callable[[list[Any]], Any]

_set_span_in_context = otel_trace.set_span_in_context
_attach = otel_context.attach
_get_current = otel_context.get_current
_detach = otel_context.detach
_OK = StatusCode.OK
_UNSET_STATUS = StatusCode.UNSET


@overload
def trace(func: F, /) -> F: ...


@overload
def trace(
    func: None = None,
    /,
    *,
    name: str | None = None,
    span_type: SpanType | str = SpanType.UNKNOWN,
    attributes: dict[str, Any] | None = None,
    output_reducer: OutputReducer | None = None,
) -> Callable[[F], F]: ...


def trace(
    func: F | None = None,
    /,
    *,
    name: str | None = None,
    span_type: SpanType | str = SpanType.UNKNOWN,
    attributes: dict[str, Any] | None = None,
    output_reducer: OutputReducer | None = None,
) -> F | Callable[[F], F]:
    """Trace calls of a function as spans: inputs are its arguments by name, outputs its return value.

    Works on sync and async functions, generators and async generators (the span covers the whole
    iteration; outputs are the yielded items, or `output_reducer(items)`), methods and recursive
    functions. An exception is recorded on the span (status ERROR) and re-raised unchanged.

    Args:
        func: the function, when used as `@trace` without parentheses.
        name: span name; defaults to the function's `__qualname__`.
        span_type: a `SpanType` or any custom string.
        attributes: attributes set on every span of this function.
        output_reducer: turns the list of yielded items of a generator into the span's outputs.
    """

    def decorate(fn: F) -> F:
        return _wrap(fn, name, span_type, attributes, output_reducer)

    return decorate(func) if func is not None else decorate


def _wrap(
    fn: F, name: str | None, span_type: SpanType | str, attributes: dict[str, Any] | None, reducer: OutputReducer | None
) -> F:
    if getattr(fn, "__tracelake_traced__", False):
        return fn
    target = fn.__func__ if isinstance(fn, (classmethod, staticmethod)) else fn
    span_name = name or getattr(target, "__qualname__", None) or repr(target)
    kind = span_type.value if isinstance(span_type, SpanType) else str(span_type)
    attrs = dict(attributes) if attributes else None
    try:
        signature: inspect.Signature | None = inspect.signature(target)
    except (TypeError, ValueError):
        signature = None
    if inspect.isasyncgenfunction(target):
        wrapper = _async_generator_wrapper(target, span_name, kind, attrs, signature, reducer)
    elif inspect.isgeneratorfunction(target):
        wrapper = _generator_wrapper(target, span_name, kind, attrs, signature, reducer)
    elif inspect.iscoroutinefunction(target):
        wrapper = _async_wrapper(target, span_name, kind, attrs, signature)
    else:
        wrapper = _sync_wrapper(target, span_name, kind, attrs, signature)
    wrapper = functools.wraps(target)(wrapper)
    wrapper.__tracelake_traced__ = True  # type: ignore[attr-defined]
    if isinstance(fn, classmethod):
        return classmethod(wrapper)
    if isinstance(fn, staticmethod):
        return staticmethod(wrapper)  # type: ignore[return-value]
    return wrapper  # type: ignore[return-value]


def _begin(
    name: str, kind: str, attrs: dict[str, Any] | None, signature: Any, args: tuple[Any, ...], kwargs: dict[str, Any]
) -> tuple[LiveSpan | NoOpSpan, Token[Context] | None]:
    """Start the span and make it current; on any internal error, a no-op span and no context."""
    try:
        context = _get_current()
        span = RUNTIME.start(name, kind, context)
        if type(span) is LiveSpan:
            if signature is not None:
                span._signature = signature
                span._args = args
                span._kwargs = kwargs
            if attrs is not None:
                span.set_attributes(attrs)
        return span, _attach(_set_span_in_context(span, context))
    except Exception:
        log_once("decorator", "tracelake: could not start span %r", name, exc_info=True)
        return NoOpSpan(), None


def _finish(span: LiveSpan | NoOpSpan, token: Token[Context] | None, outputs: Any, error: BaseException | None) -> None:
    try:
        if token is not None:
            _detach(token)
        if type(span) is not LiveSpan:
            return
        if error is not None:
            span._fail(error)
        else:
            if span._outputs is _NO_OUTPUT:
                span._outputs = outputs
            if span._status_code is _UNSET_STATUS:
                span._status_code = _OK
        span.end()
    except Exception:
        log_once("decorator-end", "tracelake: could not end a span", exc_info=True)


def _sync_wrapper(
    fn: Callable[..., Any], name: str, kind: str, attrs: dict[str, Any] | None, signature: Any
) -> Callable[..., Any]:
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        if not RUNTIME.enabled:
            return fn(*args, **kwargs)
        span, token = _begin(name, kind, attrs, signature, args, kwargs)
        try:
            result = fn(*args, **kwargs)
        except BaseException as exc:
            _finish(span, token, None, exc)
            raise
        _finish(span, token, result, None)
        return result

    return wrapper


def _async_wrapper(
    fn: Callable[..., Any], name: str, kind: str, attrs: dict[str, Any] | None, signature: Any
) -> Callable[..., Any]:
    async def wrapper(*args: Any, **kwargs: Any) -> Any:
        if not RUNTIME.enabled:
            return await fn(*args, **kwargs)
        span, token = _begin(name, kind, attrs, signature, args, kwargs)
        try:
            result = await fn(*args, **kwargs)
        except BaseException as exc:
            _finish(span, token, None, exc)
            raise
        _finish(span, token, result, None)
        return result

    return wrapper


def _reduce(items: list[Any], reducer: OutputReducer | None) -> Any:
    if reducer is not None:
        try:
            return reducer(items)
        except Exception:
            log_once("reducer", "tracelake: output_reducer raised; keeping the raw items", exc_info=True)
    return items


def _generator_wrapper(
    fn: Callable[..., Any],
    name: str,
    kind: str,
    attrs: dict[str, Any] | None,
    signature: Any,
    reducer: OutputReducer | None,
) -> Callable[..., Any]:
    def wrapper(*args: Any, **kwargs: Any) -> Generator[Any, Any, Any]:
        if not RUNTIME.enabled:
            return (yield from fn(*args, **kwargs))
        span, token = _begin(name, kind, attrs, signature, args, kwargs)
        # The span is current only while the generator's own code runs, not while the consumer
        # holds the iterator, so spans the consumer starts between items are not its children.
        context = otel_context.get_current()
        if token is not None:
            _detach(token)
        items: list[Any] = []
        try:
            generator = fn(*args, **kwargs)
            sent: Any = None
            while True:
                inner = _attach(context)
                try:
                    item = generator.send(sent)
                except StopIteration as stop:
                    _finish(span, None, _reduce(items, reducer), None)
                    return stop.value
                finally:
                    _detach(inner)
                items.append(item)
                try:
                    sent = yield item
                except GeneratorExit:
                    generator.close()
                    _finish(span, None, _reduce(items, reducer), None)
                    raise
                except BaseException as thrown:
                    inner = _attach(context)
                    try:
                        item = generator.throw(thrown)
                    finally:
                        _detach(inner)
                    items.append(item)
                    sent = yield item
        except GeneratorExit:
            raise
        except BaseException as exc:
            _finish(span, None, None, exc)
            raise

    return wrapper


def _async_generator_wrapper(
    fn: Callable[..., Any],
    name: str,
    kind: str,
    attrs: dict[str, Any] | None,
    signature: Any,
    reducer: OutputReducer | None,
) -> Callable[..., Any]:
    async def wrapper(*args: Any, **kwargs: Any) -> AsyncIterator[Any]:
        if not RUNTIME.enabled:
            async for item in fn(*args, **kwargs):
                yield item
            return
        span, token = _begin(name, kind, attrs, signature, args, kwargs)
        context = otel_context.get_current()
        if token is not None:
            _detach(token)
        items: list[Any] = []
        generator = fn(*args, **kwargs)
        try:
            sent: Any = None
            while True:
                inner = _attach(context)
                try:
                    item = await generator.asend(sent)
                except StopAsyncIteration:
                    _finish(span, None, _reduce(items, reducer), None)
                    return
                finally:
                    _detach(inner)
                items.append(item)
                try:
                    sent = yield item
                except GeneratorExit:
                    await generator.aclose()
                    _finish(span, None, _reduce(items, reducer), None)
                    raise
        except GeneratorExit:
            raise
        except BaseException as exc:
            _finish(span, None, None, exc)
            raise

    return wrapper
