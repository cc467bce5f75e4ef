"""Reading a judge's answer: a JSON object with a value and a rationale, found wherever it hides.

Models wrap JSON in code fences, prefix it with prose, or name the value `verdict`, `score` or
`result`. Anything that yields no usable value raises `JudgeAnswerError`, which the worker records
as an error assessment (never a crash).
"""

from __future__ import annotations

import json
from typing import Any

__all__ = ["JudgeAnswerError", "normalize_yes_no", "parse_judgement"]

_VALUE_KEYS = ("value", "verdict", "result", "answer", "rating", "score")
_YES = frozenset({"yes", "y", "true", "pass", "passed", "correct", "1"})
_NO = frozenset({"no", "n", "false", "fail", "failed", "incorrect", "0"})


class JudgeAnswerError(ValueError):
    """The judge's answer has no readable value."""


def _objects(text: str) -> list[dict[str, Any]]:
    decoder = json.JSONDecoder()
    found: list[dict[str, Any]] = []
    index = text.find("{")
    while index != -1:
        try:
            value, end = decoder.raw_decode(text, index)
        except json.JSONDecodeError:
            index = text.find("{", index + 1)
            continue
        if isinstance(value, dict):
            found.append(value)
        index = text.find("{", end)
    return found


def parse_judgement(text: str) -> tuple[Any, str | None]:
    """Return (value, rationale) from a judge's reply.

    Raises:
        JudgeAnswerError: when no JSON object with a value is found; the message quotes the reply.
    """
    for candidate in _objects(text):
        lowered = {str(key).lower(): value for key, value in candidate.items()}
        for key in _VALUE_KEYS:
            if key in lowered and lowered[key] is not None:
                rationale = lowered.get("rationale") or lowered.get("reason") or lowered.get("explanation")
                return lowered[key], None if rationale is None else str(rationale)
    shown = text.strip().replace("\n", " ")
    shown = shown[:200] + ("…" if len(shown) > 200 else "")
    raise JudgeAnswerError(f"the judge's answer has no JSON object with a 'value': {shown!r}")


def normalize_yes_no(value: Any) -> str:
    """Map a judge's verdict to "yes" or "no".

    Raises:
        JudgeAnswerError: for anything that is not a recognisable yes or no.
    """
    if isinstance(value, bool):
        return "yes" if value else "no"
    word = str(value).strip().strip(".!\"'").lower()
    if word in _YES:
        return "yes"
    if word in _NO:
        return "no"
    raise JudgeAnswerError(f"the judge answered {value!r}, not yes or no")
