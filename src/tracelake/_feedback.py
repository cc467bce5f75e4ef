"""Feedback and expectations from the SDK: thumbs up/down, comments, scores and reference answers.

These are explicit calls, unlike tracing: bad input raises `ConfigError` naming the argument, and a
trace that does not exist raises `NotFoundError`. They go through the configured backend, so they
work the same on the embedded store and against a tracelake server.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from enum import Enum
from typing import Any, Final

from tracelake import _setup
from tracelake.exceptions import ConfigError, NotFoundError
from tracelake.model import Assessment, AssessmentError, AssessmentKind, AssessmentSourceType


class _Unset(Enum):
    UNSET = "UNSET"


_UNSET: Final = _Unset.UNSET

ErrorLike = AssessmentError | BaseException | Mapping[str, str]


def log_feedback(
    trace_id: str | None = None,
    name: str = "feedback",
    value: Any = None,
    *,
    source_type: AssessmentSourceType | str = AssessmentSourceType.HUMAN,
    source_id: str | None = None,
    rationale: str | None = None,
    span_id: str | None = None,
    metadata: Mapping[str, str] | None = None,
    error: ErrorLike | None = None,
    client_request_id: str | None = None,
    experiment_id: str | None = None,
) -> Assessment:
    """Attach feedback (an opinion about what the agent did) to a trace, or to one span of it.

    Example: `tracelake.log_feedback(trace_id, name="thumbs_up", value=False, rationale="wrong city",
    source_id="user-42")`.

    Args:
        trace_id: the trace; or address it by `client_request_id` instead.
        name: what is judged ("thumbs_up", "relevance", …), at most 250 characters.
        value: a bool, number, string, or any JSON list or object. May be None only with `error`.
        source_type: who judged: HUMAN (default), LLM_JUDGE or CODE.
        source_id: which human, judge or scorer (default "default").
        rationale: why (a user's comment, a judge's explanation).
        span_id: the span judged, if not the whole trace; it must belong to the trace.
        metadata: string keys and values stored with the feedback.
        error: why a judge produced no value: an exception, an `AssessmentError`, or
            `{"error_code", "error_message"}`.
        client_request_id: the id the caller chose for the request, instead of `trace_id`.
        experiment_id: where to look `client_request_id` up; default: the current experiment.

    Returns:
        The stored assessment, with its `assessment_id`.

    Raises:
        ConfigError: an argument is invalid (the message names it).
        NotFoundError: no such trace (or span).
    """
    body = _body(AssessmentKind.FEEDBACK, name, value, source_type, source_id, rationale, span_id, metadata)
    if error is not None:
        body["error"] = _error_dict(error)
    return _create(body, trace_id, client_request_id, experiment_id)


def log_expectation(
    trace_id: str | None = None,
    name: str = "expected_response",
    value: Any = None,
    *,
    source_type: AssessmentSourceType | str = AssessmentSourceType.HUMAN,
    source_id: str | None = None,
    rationale: str | None = None,
    span_id: str | None = None,
    metadata: Mapping[str, str] | None = None,
    client_request_id: str | None = None,
    experiment_id: str | None = None,
) -> Assessment:
    """Attach an expectation (what the agent should have done: a reference answer, facts) to a trace.

    Arguments are those of `log_feedback`, except that an expectation needs a value and carries no
    error. Scorers such as correctness compare outputs with these.

    Raises:
        ConfigError: an argument is invalid (the message names it).
        NotFoundError: no such trace (or span).
    """
    body = _body(AssessmentKind.EXPECTATION, name, value, source_type, source_id, rationale, span_id, metadata)
    return _create(body, trace_id, client_request_id, experiment_id)


def update_assessment(
    trace_id: str,
    assessment_id: str,
    value: Any = _UNSET,
    rationale: str | _Unset | None = _UNSET,
    *,
    metadata: Mapping[str, str] | _Unset = _UNSET,
    error: ErrorLike | _Unset | None = _UNSET,
    source_type: AssessmentSourceType | str | None = None,
    source_id: str | None = None,
) -> Assessment:
    """Change a feedback or expectation; only the arguments given change (None clears `rationale`/`error`).

    `metadata` replaces the stored metadata as a whole. Give `source_type` (and `source_id`) to
    change who made the judgement.

    Raises:
        ConfigError: nothing to change, or an argument is invalid (the message names it).
        NotFoundError: no such trace or assessment.
    """
    changes: dict[str, Any] = {}
    if value is not _UNSET:
        changes["value"] = _json_value(value)
    if not isinstance(rationale, _Unset):
        changes["rationale"] = rationale
    if not isinstance(metadata, _Unset):
        changes["metadata"] = _plain(metadata)
    if not isinstance(error, _Unset):
        changes["error"] = _error_dict(error)
    if source_type is not None or source_id is not None:
        if source_type is None:
            raise ConfigError("update_assessment: source_id needs source_type")
        changes["source"] = _source(source_type, source_id)
    return _setup.get_backend().update_assessment(trace_id, assessment_id, changes)


def delete_assessment(trace_id: str, assessment_id: str) -> None:
    """Delete a feedback or expectation.

    Raises:
        NotFoundError: no such trace or assessment.
    """
    _setup.get_backend().delete_assessment(trace_id, assessment_id)


def get_assessments(trace_id: str) -> list[Assessment]:
    """Return the feedback and expectations of a trace, oldest first.

    Raises:
        NotFoundError: no such trace.
    """
    return _setup.get_backend().list_assessments(trace_id)


def _body(
    kind: AssessmentKind,
    name: str,
    value: Any,
    source_type: AssessmentSourceType | str,
    source_id: str | None,
    rationale: str | None,
    span_id: str | None,
    metadata: Mapping[str, str] | None,
) -> dict[str, Any]:
    """Return the `AssessmentInput` (docs/rest-api.md) of the arguments, leaving out those not given."""
    body: dict[str, Any] = {
        "name": name,
        "kind": kind.value,
        "value": _json_value(value),
        "source": _source(source_type, source_id),
    }
    if rationale is not None:
        body["rationale"] = rationale
    if span_id is not None:
        body["span_id"] = span_id
    if metadata is not None:
        body["metadata"] = _plain(metadata)
    return body


def _create(
    body: dict[str, Any], trace_id: str | None, client_request_id: str | None, experiment_id: str | None
) -> Assessment:
    if (trace_id is None) == (client_request_id is None):
        raise ConfigError(f"log_{body['kind']}() needs exactly one of trace_id and client_request_id")
    backend = _setup.get_backend()
    if client_request_id is not None and experiment_id is None:
        experiment_id = _current_experiment_id(client_request_id)
    return backend.create_assessment(body, trace_id, client_request_id, experiment_id)


def _current_experiment_id(client_request_id: str) -> str:
    # Traces without a configured experiment go to the experiment named "Default".
    current = _setup.current_experiment_id()
    if current is not None:
        return current
    default = _setup.get_backend().get_experiment_by_name(_setup.DEFAULT_EXPERIMENT)
    if default is None:
        raise NotFoundError(f"no trace with client request id {client_request_id!r}: no experiment is set")
    return default.experiment_id


def _json_value(value: Any) -> Any:
    # The value crosses the wire as JSON against a server: check here, so both modes fail alike.
    try:
        json.dumps(value, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise ConfigError(
            f"invalid assessment field 'value': must be JSON (bool, number, string, list, object): {exc}"
        ) from None
    return value


def _source(source_type: AssessmentSourceType | str, source_id: str | None) -> dict[str, Any]:
    source: dict[str, Any] = {"source_type": getattr(source_type, "value", source_type)}
    if source_id is not None:
        source["source_id"] = source_id
    return source


def _plain(metadata: Mapping[str, str]) -> Any:
    return dict(metadata) if isinstance(metadata, Mapping) else metadata


def _error_dict(error: ErrorLike | None) -> Any:
    if error is None or isinstance(error, Mapping):
        return None if error is None else dict(error)
    if isinstance(error, AssessmentError):
        return error.to_dict()
    if isinstance(error, BaseException):
        return {"error_code": type(error).__name__, "error_message": str(error)}
    return error  # the backend names it as invalid
