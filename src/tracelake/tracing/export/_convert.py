"""Turn finished spans (tracelake LiveSpans and OpenTelemetry SDK spans) into SpanRecords.

This runs on the export thread: argument binding, JSON serialisation and truncation all happen
here, so the caller's thread only ever keeps references.
"""

from __future__ import annotations

import inspect
from collections.abc import Mapping
from typing import Any

import orjson

from tracelake.model import EventRecord, SpanAttributes, SpanRecord, StatusCode, TraceMetadataKey
from tracelake.tracing._serialize import attribute_value, to_json
from tracelake.tracing._span import _UNSET, LiveSpan

_STATUS = {"UNSET": StatusCode.UNSET, "OK": StatusCode.OK, "ERROR": StatusCode.ERROR}


def bind_arguments(signature: inspect.Signature, args: tuple[Any, ...], kwargs: dict[str, Any]) -> dict[str, Any]:
    """Map a call's arguments to parameter names, leaving out `self` and `cls`."""
    plain = _plain_parameters(signature)
    if plain is not None and len(args) <= len(plain[0]) and (not kwargs or kwargs.keys() <= plain[1]):
        # The common case, without building a BoundArguments: the same names in the same order.
        names, _, skip = plain
        arguments = dict(zip(names, args, strict=False))
        if kwargs:
            arguments.update((name, kwargs[name]) for name in names[len(args) :] if name in kwargs)
            if len(arguments) < len(args) + len(kwargs):
                return _bind_slowly(signature, args, kwargs)  # an argument given twice: a TypeError
        if skip:
            arguments.pop(skip, None)
        return arguments
    return _bind_slowly(signature, args, kwargs)


def _bind_slowly(signature: inspect.Signature, args: tuple[Any, ...], kwargs: dict[str, Any]) -> dict[str, Any]:
    try:
        bound = signature.bind_partial(*args, **kwargs)
    except TypeError:
        return {"args": list(args), "kwargs": kwargs}
    arguments = dict(bound.arguments)
    params = list(signature.parameters)
    if params and params[0] in ("self", "cls"):
        arguments.pop(params[0], None)
    for name, param in signature.parameters.items():
        # Flatten **kwargs so inputs read like the call site.
        if param.kind is inspect.Parameter.VAR_KEYWORD and name in arguments:
            arguments.update(arguments.pop(name))
    return arguments


_PlainParameters = tuple[tuple[str, ...], frozenset[str], "str | None"]
# Keyed by id() with the signature kept alongside: a kept signature is never freed, so its id cannot
# be reused by another one. Bounded: functions may be decorated dynamically.
_PLAIN: dict[int, tuple[inspect.Signature, _PlainParameters | None]] = {}
_PLAIN_MAX = 1024


def _plain_parameters(signature: inspect.Signature) -> _PlainParameters | None:
    """Return (names, name set, self/cls name) if every parameter is positional-or-keyword, else None."""
    entry = _PLAIN.get(id(signature))
    if entry is not None and entry[0] is signature:
        return entry[1]
    params = list(signature.parameters.values())
    plain: _PlainParameters | None = None
    if all(param.kind is inspect.Parameter.POSITIONAL_OR_KEYWORD for param in params):
        names = tuple(param.name for param in params)
        skip = names[0] if names and names[0] in ("self", "cls") else None
        plain = (names, frozenset(names), skip)
    if len(_PLAIN) >= _PLAIN_MAX:
        _PLAIN.clear()
    _PLAIN[id(signature)] = (signature, plain)
    return plain


def live_span_to_record(
    span: LiveSpan, max_payload_bytes: int, environment: str | None, resource: Mapping[str, Any]
) -> SpanRecord:
    """Convert one finished LiveSpan; the local root also carries the trace's tags and metadata."""
    attributes: dict[str, Any] = {}
    if span._attributes:
        for key, value in span._attributes.items():
            attributes[key] = attribute_value(value, max_payload_bytes)
    attributes[SpanAttributes.SPAN_TYPE] = span._span_type
    truncated: list[str] | None = None  # rare: no list for every span
    inputs = span._inputs
    if inputs is _UNSET and span._signature is not None:
        inputs = bind_arguments(span._signature, span._args, span._kwargs or {})
    if inputs is not _UNSET:
        attributes[SpanAttributes.INPUTS], cut = to_json(inputs, max_payload_bytes)
        if cut:
            truncated = ["inputs"]
    if span._outputs is not _UNSET:
        attributes[SpanAttributes.OUTPUTS], cut = to_json(span._outputs, max_payload_bytes)
        if cut:
            truncated = [*(truncated or ()), "outputs"]
    if truncated:
        attributes[SpanAttributes.TRUNCATED] = truncated
    local = span._local_trace
    if local.root is span:
        metadata = dict(local.metadata or {})
        if environment and TraceMetadataKey.ENVIRONMENT not in metadata:
            metadata[TraceMetadataKey.ENVIRONMENT] = environment
        if metadata:
            attributes[SpanAttributes.TRACE_METADATA] = orjson.dumps(metadata).decode()
        if local.tags:
            attributes[SpanAttributes.TRACE_TAGS] = orjson.dumps(local.tags).decode()
        if local.previews:
            for key, value in local.previews.items():
                attributes[key] = value
    events: tuple[EventRecord, ...] = ()
    if span._events:
        events = tuple(
            EventRecord(name, when, {k: attribute_value(v, max_payload_bytes) for k, v in attrs.items()})
            for name, when, attrs in span._events
        )
    return SpanRecord(
        trace_id=f"{span._trace_id:032x}",
        span_id=f"{span._span_id:016x}",
        parent_span_id=f"{span._parent_id:016x}" if span._parent_id else None,
        name=span._name,
        start_time_ns=span._start_ns,
        end_time_ns=span._end_ns,
        status_code=span._status_code,
        status_message=span._status_message,
        attributes=attributes,
        events=events,
        # One dict for every span of the process (as OTLP ingest shares one per resource): a copy
        # per span is an allocation per span that lives as long as its batch.
        resource_attributes=resource if type(resource) is dict else dict(resource),
    )


def otel_span_to_record(span: Any, max_payload_bytes: int) -> SpanRecord:
    """Convert an OpenTelemetry SDK `ReadableSpan` made by another instrumentation."""
    context = span.get_span_context()
    parent = span.parent
    attributes = {k: attribute_value(v, max_payload_bytes) for k, v in (span.attributes or {}).items()}
    events = tuple(
        EventRecord(event.name, int(event.timestamp or 0), dict(event.attributes or {})) for event in span.events
    )
    scope = getattr(span, "instrumentation_scope", None)
    resource = getattr(span, "resource", None)
    return SpanRecord(
        trace_id=f"{context.trace_id:032x}",
        span_id=f"{context.span_id:016x}",
        parent_span_id=f"{parent.span_id:016x}" if parent is not None else None,
        name=span.name,
        start_time_ns=int(span.start_time or 0),
        end_time_ns=None if span.end_time is None else int(span.end_time),
        status_code=_STATUS.get(span.status.status_code.name, StatusCode.UNSET),
        status_message=span.status.description or "",
        attributes=attributes,
        events=events,
        resource_attributes=dict(resource.attributes) if resource is not None else {},
        kind=span.kind.name,
        scope_name=scope.name if scope is not None else "",
    )
