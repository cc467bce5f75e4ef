"""The data model of tracelake: pure data, standard library only."""

from __future__ import annotations

from tracelake.model._assessment import (
    Assessment,
    AssessmentError,
    AssessmentKind,
    AssessmentSource,
    AssessmentSourceType,
)
from tracelake.model._batch import TraceBatch, TraceFields, WriteResult
from tracelake.model._experiment import Experiment
from tracelake.model._keys import (
    EXCEPTION_EVENT,
    EXCEPTION_MESSAGE,
    EXCEPTION_STACKTRACE,
    EXCEPTION_TYPE,
    PREVIEW_MAX_CHARS,
    SpanAttributes,
    TraceMetadataKey,
)
from tracelake.model._record import EventRecord, SpanRecord
from tracelake.model._registry import (
    ModelRef,
    ModelVersion,
    RegisteredModel,
    check_alias,
    check_model_name,
    check_version,
    parse_model_uri,
)
from tracelake.model._span import AttributeValue, Cost, Span, SpanEvent, SpanStatus, StatusCode, TokenUsage
from tracelake.model._span_type import SpanType, span_type_name
from tracelake.model._trace import Trace, TraceData, TraceInfo, TraceState

__all__ = [
    "Assessment",
    "AssessmentError",
    "AssessmentKind",
    "AssessmentSource",
    "AssessmentSourceType",
    "AttributeValue",
    "Cost",
    "EXCEPTION_EVENT",
    "EXCEPTION_MESSAGE",
    "EXCEPTION_STACKTRACE",
    "EXCEPTION_TYPE",
    "EventRecord",
    "Experiment",
    "ModelRef",
    "ModelVersion",
    "PREVIEW_MAX_CHARS",
    "RegisteredModel",
    "Span",
    "SpanAttributes",
    "SpanEvent",
    "SpanRecord",
    "SpanStatus",
    "SpanType",
    "StatusCode",
    "TokenUsage",
    "Trace",
    "TraceBatch",
    "TraceData",
    "TraceFields",
    "TraceInfo",
    "TraceMetadataKey",
    "TraceState",
    "WriteResult",
    "check_alias",
    "check_model_name",
    "check_version",
    "parse_model_uri",
    "span_type_name",
]
