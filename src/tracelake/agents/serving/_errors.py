"""Errors as the OpenAI API shapes them: `{"error": {"message", "type", "param", "code"}}`.

The `openai` client raises its own exceptions from these bodies (`BadRequestError`,
`InternalServerError`, …) with the message shown, so callers of the endpoint get readable errors.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pydantic import ValidationError

__all__ = ["EndpointError", "error_body", "validation_error"]

_ERROR_TYPES = {
    400: "invalid_request_error",
    404: "not_found_error",
    405: "invalid_request_error",
    413: "invalid_request_error",
    503: "service_unavailable_error",
}
# Location entries pydantic adds for the branches of a union: not fields the caller wrote.
_BRANCH_NAMES = frozenset(
    {"message", "function_call", "function_call_output", "reasoning", "input_text", "output_text"}
    | {"input_image", "input_file", "refusal", "str", "int", "float", "bool", "none"}
)


class EndpointError(Exception):
    """A request the endpoint refuses: answered with `status` and an OpenAI-style error body."""

    def __init__(self, status: int, message: str, *, param: str | None = None, code: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.param = param
        self.code = code

    def body(self) -> dict[str, Any]:
        return error_body(self.status, self.message, param=self.param, code=self.code)


def error_body(status: int, message: str, *, param: str | None = None, code: str | None = None) -> dict[str, Any]:
    """Return the OpenAI error body for an HTTP status."""
    kind = _ERROR_TYPES.get(status, "server_error" if status >= 500 else "invalid_request_error")
    return {"error": {"message": message, "type": kind, "param": param, "code": code}}


def validation_error(exc: ValidationError, what: str = "request") -> EndpointError:
    """Return the 400 for an invalid body: the most specific problem, with its field as `param`.

    Pydantic reports one error per branch of a union (`content` as a string, `content` as a list of
    parts…); the deepest location is the one the caller most likely got wrong, and errors at that
    same location are alternatives ("a valid string or a valid list").
    """
    errors = exc.errors(include_url=False)
    located = [(_clean(error["loc"]), error) for error in errors]
    deepest = max(len(loc) for loc, _ in located)
    best = [(loc, error) for loc, error in located if len(loc) == deepest]
    loc = best[0][0]
    messages: list[str] = []
    for other_loc, error in best:
        if other_loc == loc and error["msg"] not in messages:
            messages.append(error["msg"])
    message = messages[0] + "".join(" or " + m.removeprefix("Input should be ") for m in messages[1:])
    param = _param(loc)
    missing = all(error["type"] == "missing" for other_loc, error in best if other_loc == loc)
    extra = len(errors) - len(best)
    more = f" ({extra} other problem{'s' if extra != 1 else ''} in the {what})" if extra > 0 and param else ""
    if not param:
        text = f"Invalid {what}: {message.removeprefix('Value error, ')}."
    elif missing:
        text = f"Missing required parameter: '{param}'."
    else:
        text = f"Invalid '{param}': {message}.{more}"
    return EndpointError(
        400, text, param=param or None, code="missing_required_parameter" if missing else "invalid_value"
    )


def _clean(loc: Sequence[int | str]) -> tuple[int | str, ...]:
    return tuple(part for part in loc if isinstance(part, int) or (part not in _BRANCH_NAMES and "[" not in part))


def _param(loc: Sequence[int | str]) -> str:
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text
