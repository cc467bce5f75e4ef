"""Traces: the summary row (TraceInfo), the spans (TraceData), and the pair (Trace)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

from tracelake.model._assessment import Assessment
from tracelake.model._keys import TraceMetadataKey
from tracelake.model._span import Cost, Span, TokenUsage


class TraceState(str, Enum):
    """Whether a trace finished, and how."""

    OK = "OK"
    ERROR = "ERROR"
    IN_PROGRESS = "IN_PROGRESS"

    def __str__(self) -> str:
        return self.value


@dataclass(frozen=True, slots=True)
class TraceInfo:
    """The summary of one trace: what the index stores and what search returns."""

    trace_id: str
    experiment_id: str
    request_time: int
    """Start of the trace, milliseconds since the Unix epoch."""
    execution_duration: int | None
    """Milliseconds from the root span's start to its end; None while the root is open."""
    state: TraceState
    name: str | None = None
    request_preview: str | None = None
    response_preview: str | None = None
    client_request_id: str | None = None
    tags: dict[str, str] = field(default_factory=dict)
    metadata: dict[str, str] = field(default_factory=dict)
    token_usage: TokenUsage | None = None
    cost: Cost | None = None
    span_count: int = 0
    assessments: list[Assessment] = field(default_factory=list)
    """Feedback and expectations on the trace (filled by `get_trace`; empty in search results)."""

    @property
    def trace_metadata(self) -> dict[str, str]:
        """Alias of `metadata`, the name MLflow users know."""
        return self.metadata

    @property
    def timestamp_ms(self) -> int:
        return self.request_time

    @property
    def execution_time_ms(self) -> int | None:
        return self.execution_duration

    @property
    def session_id(self) -> str | None:
        return self.metadata.get(TraceMetadataKey.SESSION)

    @property
    def user_id(self) -> str | None:
        return self.metadata.get(TraceMetadataKey.USER)

    @property
    def environment(self) -> str | None:
        return self.metadata.get(TraceMetadataKey.ENVIRONMENT)

    def to_dict(self) -> dict[str, Any]:
        return {
            "trace_id": self.trace_id,
            "experiment_id": self.experiment_id,
            "request_time": self.request_time,
            "execution_duration": self.execution_duration,
            "state": self.state.value,
            "name": self.name,
            "request_preview": self.request_preview,
            "response_preview": self.response_preview,
            "client_request_id": self.client_request_id,
            "tags": dict(self.tags),
            "metadata": dict(self.metadata),
            "token_usage": None if self.token_usage is None else self.token_usage.to_dict(),
            "cost": None if self.cost is None else self.cost.to_dict(),
            "span_count": self.span_count,
            "assessments": [a.to_dict() for a in self.assessments],
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TraceInfo:
        usage = data.get("token_usage")
        cost = data.get("cost")
        return cls(
            trace_id=data["trace_id"],
            experiment_id=str(data["experiment_id"]),
            request_time=int(data["request_time"]),
            execution_duration=data.get("execution_duration"),
            state=TraceState(data["state"]),
            name=data.get("name"),
            request_preview=data.get("request_preview"),
            response_preview=data.get("response_preview"),
            client_request_id=data.get("client_request_id"),
            tags=dict(data.get("tags") or {}),
            metadata=dict(data.get("metadata") or {}),
            token_usage=None if usage is None else TokenUsage.from_dict(usage),
            cost=None if cost is None else Cost.from_dict(cost),
            span_count=int(data.get("span_count") or 0),
            assessments=[Assessment.from_dict(a) for a in data.get("assessments") or []],
        )


@dataclass(frozen=True, slots=True)
class TraceData:
    """The spans of a trace, parents before children where the tree allows."""

    spans: list[Span] = field(default_factory=list)

    @property
    def root_span(self) -> Span | None:
        ids = {span.span_id for span in self.spans}
        for span in self.spans:
            if span.parent_id is None or span.parent_id not in ids:
                return span
        return None

    @property
    def request(self) -> Any:
        root = self.root_span
        return None if root is None else root.inputs

    @property
    def response(self) -> Any:
        root = self.root_span
        return None if root is None else root.outputs


@dataclass(frozen=True, slots=True)
class Trace:
    """A trace: its summary and its spans."""

    info: TraceInfo
    data: TraceData

    def search_spans(
        self, span_type: str | None = None, name: str | None = None, predicate: Callable[[Span], bool] | None = None
    ) -> list[Span]:
        """Return the spans matching every given criterion."""
        return [
            span
            for span in self.data.spans
            if (span_type is None or span.span_type == str(span_type))
            and (name is None or span.name == name)
            and (predicate is None or predicate(span))
        ]

    def to_dict(self) -> dict[str, Any]:
        return {"info": self.info.to_dict(), "data": {"spans": [span.to_dict() for span in self.data.spans]}}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Trace:
        return cls(
            info=TraceInfo.from_dict(data["info"]),
            data=TraceData(spans=[Span.from_dict(s) for s in data["data"]["spans"]]),
        )
