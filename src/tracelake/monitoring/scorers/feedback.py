"""`Feedback`: what a scorer returns, and the conversion of any allowed return value into it."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = ["Feedback", "ScorerResultError", "to_feedbacks"]


class ScorerResultError(TypeError):
    """A scorer returned something that is not a bool, number, string, Feedback or list of Feedbacks."""


@dataclass(frozen=True, slots=True)
class Feedback:
    """One judgement made by a scorer.

    Attributes:
        value: a bool, a number, a string (e.g. "yes"/"no"), or any JSON value; None with `error`.
        rationale: why, in words.
        name: the assessment's name; defaults to the scorer's name. A scorer returning several
            Feedbacks names each one.
        error: why no value could be produced (a judge's garbage answer, a timeout…).
        error_code: a short machine-readable code for `error`.
        metadata: extra string pairs stored with the assessment.
    """

    value: Any = None
    rationale: str | None = None
    name: str | None = None
    error: str | None = None
    error_code: str = "SCORER_ERROR"
    metadata: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def failure(cls, code: str, message: str, name: str | None = None) -> Feedback:
        """Return a Feedback that carries only an error."""
        return cls(name=name, error=message, error_code=code)


def _check_value(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        raise ScorerResultError(f"a scorer returned {value!r}: values must be finite numbers")
    return value


def to_feedbacks(result: Any, default_name: str) -> list[Feedback]:
    """Turn whatever a scorer returned into named Feedbacks.

    Args:
        result: a bool, int, float, str, None (no judgement), a `Feedback`, or a list of Feedbacks.
        default_name: the name given to a Feedback without one (the scorer's name).

    Returns:
        The Feedbacks, each with a name. None gives an empty list: the scorer chose not to judge.

    Raises:
        ScorerResultError: for any other type, or a NaN/infinite number.
    """
    if result is None:
        return []
    if isinstance(result, Feedback):
        items: list[Any] = [result]
    elif isinstance(result, (list, tuple)):
        items = list(result)
        if not all(isinstance(item, Feedback) for item in items):
            raise ScorerResultError("a scorer that returns a list must return a list of Feedback objects")
    elif isinstance(result, (bool, int, float, str)):
        return [Feedback(value=_check_value(result), name=default_name)]
    else:
        raise ScorerResultError(
            f"a scorer returned a {type(result).__name__}; return a bool, number, string, Feedback or list of Feedbacks"
        )
    feedbacks: list[Feedback] = []
    for index, item in enumerate(items):
        name = item.name or (default_name if len(items) == 1 else f"{default_name}/{index}")
        feedbacks.append(
            Feedback(
                value=_check_value(item.value),
                rationale=item.rationale,
                name=name,
                error=item.error,
                error_code=item.error_code,
                metadata=dict(item.metadata),
            )
        )
    return feedbacks
