"""Assessments: judgements attached to a trace (or one of its spans).

Feedback is an opinion about what the agent did (a user's thumbs up, an LLM judge's score, a code
check); an expectation is what it should have done (a reference answer). Both are first-class
records with their own ids, addressable by trace id or by the caller's client request id.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum
from typing import Any


class AssessmentKind(str, Enum):
    FEEDBACK = "feedback"
    EXPECTATION = "expectation"

    def __str__(self) -> str:
        return self.value


class AssessmentSourceType(str, Enum):
    """Who made the judgement."""

    HUMAN = "HUMAN"
    LLM_JUDGE = "LLM_JUDGE"
    CODE = "CODE"

    def __str__(self) -> str:
        return self.value


@dataclass(frozen=True, slots=True)
class AssessmentSource:
    source_type: AssessmentSourceType = AssessmentSourceType.CODE
    source_id: str = "default"
    """Who exactly: a user id or email, a judge model, a scorer name."""

    def to_dict(self) -> dict[str, str]:
        return {"source_type": self.source_type.value, "source_id": self.source_id}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> AssessmentSource:
        return cls(AssessmentSourceType(str(data.get("source_type", "CODE")).upper()), str(data.get("source_id", "")))


@dataclass(frozen=True, slots=True)
class AssessmentError:
    """Why a judge could not produce a value (feedback only)."""

    error_code: str
    error_message: str = ""

    def to_dict(self) -> dict[str, str]:
        return {"error_code": self.error_code, "error_message": self.error_message}


@dataclass(frozen=True, slots=True)
class Assessment:
    """A feedback or expectation on a trace, or on one span of it.

    `value` is JSON: a bool (thumbs), a number (a score), a string (a label or comment) or any
    JSON object or list.
    """

    assessment_id: str
    trace_id: str
    name: str
    kind: AssessmentKind
    value: Any
    source: AssessmentSource
    create_time_ms: int
    last_update_time_ms: int
    rationale: str | None = None
    span_id: str | None = None
    metadata: dict[str, str] = field(default_factory=dict)
    error: AssessmentError | None = None
    experiment_id: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "assessment_id": self.assessment_id,
            "trace_id": self.trace_id,
            "experiment_id": self.experiment_id,
            "name": self.name,
            "kind": self.kind.value,
            "value": self.value,
            "source": self.source.to_dict(),
            "create_time_ms": self.create_time_ms,
            "last_update_time_ms": self.last_update_time_ms,
            "rationale": self.rationale,
            "span_id": self.span_id,
            "metadata": dict(self.metadata),
            "error": None if self.error is None else self.error.to_dict(),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Assessment:
        error = data.get("error")
        return cls(
            assessment_id=data["assessment_id"],
            trace_id=data["trace_id"],
            experiment_id=data.get("experiment_id"),
            name=data["name"],
            kind=AssessmentKind(data["kind"]),
            value=data.get("value"),
            source=AssessmentSource.from_dict(data.get("source") or {}),
            create_time_ms=int(data["create_time_ms"]),
            last_update_time_ms=int(data["last_update_time_ms"]),
            rationale=data.get("rationale"),
            span_id=data.get("span_id"),
            metadata=dict(data.get("metadata") or {}),
            error=None if error is None else AssessmentError(error["error_code"], error.get("error_message", "")),
        )
