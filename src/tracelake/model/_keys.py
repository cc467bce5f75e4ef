"""Reserved names: span attributes and trace metadata keys that tracelake writes and reads.

Span attributes travel on the wire (OTLP); metadata keys are what a user filters on
(`metadata.session_id = 's-1'`) and what the UI groups by.
"""

from __future__ import annotations

from typing import Final


class SpanAttributes:
    """Attribute keys tracelake's SDK puts on spans it records."""

    SPAN_TYPE: Final = "tracelake.span.type"
    INPUTS: Final = "tracelake.span.inputs"
    OUTPUTS: Final = "tracelake.span.outputs"
    FUNCTION_NAME: Final = "tracelake.span.function"
    TRUNCATED: Final = "tracelake.span.truncated"
    MODEL: Final = "tracelake.llm.model"
    PROVIDER: Final = "tracelake.llm.provider"
    TOKEN_USAGE: Final = "tracelake.llm.token_usage"
    COST: Final = "tracelake.llm.cost"
    # Trace-level data rides on the local root span as JSON objects, so it survives OTLP.
    TRACE_TAGS: Final = "tracelake.trace.tags"
    TRACE_METADATA: Final = "tracelake.trace.metadata"
    TRACE_REQUEST_PREVIEW: Final = "tracelake.trace.request_preview"
    TRACE_RESPONSE_PREVIEW: Final = "tracelake.trace.response_preview"
    EXPERIMENT_ID: Final = "tracelake.experiment_id"


class TraceMetadataKey:
    """Reserved trace metadata keys (plain names so filters read naturally)."""

    SESSION: Final = "session_id"
    USER: Final = "user_id"
    CLIENT_REQUEST_ID: Final = "client_request_id"
    ENVIRONMENT: Final = "environment"
    SOURCE: Final = "tracelake.source"
    SDK_VERSION: Final = "tracelake.sdk_version"


#: Exception events follow the OpenTelemetry semantic conventions.
EXCEPTION_EVENT: Final = "exception"
EXCEPTION_TYPE: Final = "exception.type"
EXCEPTION_MESSAGE: Final = "exception.message"
EXCEPTION_STACKTRACE: Final = "exception.stacktrace"

#: Previews are cut to this many characters, like the UI's table cells.
PREVIEW_MAX_CHARS: Final = 1000
