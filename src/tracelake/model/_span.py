"""Spans: one step of a trace, as stored and read back."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum
from typing import Any

AttributeValue = str | bool | int | float | list[str] | list[bool] | list[int] | list[float]


class StatusCode(str, Enum):
    """Outcome of a span, as OpenTelemetry defines it."""

    UNSET = "UNSET"
    OK = "OK"
    ERROR = "ERROR"

    def __str__(self) -> str:
        return self.value


@dataclass(frozen=True, slots=True)
class SpanStatus:
    """Status code plus an optional description (set for errors)."""

    code: StatusCode = StatusCode.UNSET
    message: str = ""

    def to_dict(self) -> dict[str, str]:
        return {"code": self.code.value, "message": self.message}


# Span and SpanEvent are not frozen: one is built per span on every write and every read, and a frozen
# dataclass's __init__ costs five times a plain one's. Treat them as read-only all the same.
@dataclass(slots=True)
class SpanEvent:
    """A point-in-time event inside a span (exceptions, stream chunks, user events)."""

    name: str
    timestamp_ns: int
    attributes: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "timestamp_ns": self.timestamp_ns, "attributes": self.attributes}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SpanEvent:
        return cls(name=data["name"], timestamp_ns=int(data["timestamp_ns"]), attributes=dict(data["attributes"]))


@dataclass(frozen=True, slots=True)
class TokenUsage:
    """Token counts of one LLM call, or totals over a trace."""

    input_tokens: int = 0
    output_tokens: int = 0
    total_tokens: int = 0
    cached_input_tokens: int = 0
    reasoning_tokens: int = 0

    def __add__(self, other: TokenUsage) -> TokenUsage:
        return TokenUsage(
            input_tokens=self.input_tokens + other.input_tokens,
            output_tokens=self.output_tokens + other.output_tokens,
            total_tokens=self.total_tokens + other.total_tokens,
            cached_input_tokens=self.cached_input_tokens + other.cached_input_tokens,
            reasoning_tokens=self.reasoning_tokens + other.reasoning_tokens,
        )

    def to_dict(self) -> dict[str, int]:
        return {
            "input_tokens": self.input_tokens,
            "output_tokens": self.output_tokens,
            "total_tokens": self.total_tokens,
            "cached_input_tokens": self.cached_input_tokens,
            "reasoning_tokens": self.reasoning_tokens,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TokenUsage:
        return cls(**{k: int(data.get(k) or 0) for k in cls.__dataclass_fields__})


@dataclass(frozen=True, slots=True)
class Cost:
    """Cost of an LLM call or a trace, in US dollars."""

    input_cost: float = 0.0
    output_cost: float = 0.0
    total_cost: float = 0.0

    def __add__(self, other: Cost) -> Cost:
        return Cost(
            self.input_cost + other.input_cost,
            self.output_cost + other.output_cost,
            self.total_cost + other.total_cost,
        )

    def to_dict(self) -> dict[str, float]:
        return {"input_cost": self.input_cost, "output_cost": self.output_cost, "total_cost": self.total_cost}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Cost:
        return cls(**{k: float(data.get(k) or 0.0) for k in cls.__dataclass_fields__})


@dataclass(slots=True)
class Span:
    """A finished (or still open) step of a trace, normalised from any convention.

    `inputs` and `outputs` are JSON-compatible values. `attributes` keeps the raw attributes the span
    arrived with, except the inputs and outputs themselves (kept once, above).
    """

    trace_id: str
    span_id: str
    parent_id: str | None
    name: str
    span_type: str
    start_time_ns: int
    end_time_ns: int | None
    status: SpanStatus
    inputs: Any = None
    outputs: Any = None
    attributes: dict[str, Any] = field(default_factory=dict)
    events: list[SpanEvent] = field(default_factory=list)
    model_name: str | None = None
    token_usage: TokenUsage | None = None
    cost: Cost | None = None

    @property
    def duration_ns(self) -> int | None:
        return None if self.end_time_ns is None else self.end_time_ns - self.start_time_ns

    # Aliases for readers used to OpenTelemetry's names.
    @property
    def parent_span_id(self) -> str | None:
        return self.parent_id

    @property
    def start_time_unix_nano(self) -> int:
        return self.start_time_ns

    @property
    def end_time_unix_nano(self) -> int | None:
        return self.end_time_ns

    def to_dict(self) -> dict[str, Any]:
        """Return the JSON-compatible form stored in payload objects and served by the API."""
        return {
            "trace_id": self.trace_id,
            "span_id": self.span_id,
            "parent_id": self.parent_id,
            "name": self.name,
            "span_type": self.span_type,
            "start_time_ns": self.start_time_ns,
            "end_time_ns": self.end_time_ns,
            "status": self.status.to_dict(),
            "inputs": self.inputs,
            "outputs": self.outputs,
            "attributes": self.attributes,
            "events": [event.to_dict() for event in self.events],
            "model_name": self.model_name,
            "token_usage": None if self.token_usage is None else self.token_usage.to_dict(),
            "cost": None if self.cost is None else self.cost.to_dict(),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Span:
        status = data.get("status") or {}
        usage = data.get("token_usage")
        cost = data.get("cost")
        return cls(
            trace_id=data["trace_id"],
            span_id=data["span_id"],
            parent_id=data.get("parent_id"),
            name=data["name"],
            span_type=data.get("span_type") or "UNKNOWN",
            start_time_ns=int(data["start_time_ns"]),
            end_time_ns=None if data.get("end_time_ns") is None else int(data["end_time_ns"]),
            status=SpanStatus(StatusCode(status.get("code", "UNSET")), status.get("message", "")),
            inputs=data.get("inputs"),
            outputs=data.get("outputs"),
            attributes=dict(data.get("attributes") or {}),
            events=[SpanEvent.from_dict(e) for e in data.get("events") or []],
            model_name=data.get("model_name"),
            token_usage=None if usage is None else TokenUsage.from_dict(usage),
            cost=None if cost is None else Cost.from_dict(cost),
        )
