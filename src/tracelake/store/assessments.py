"""Feedback and expectations in: the rules of an `AssessmentInput`, shared by the REST API, the SDK and the store.

`create_assessment` and `update_assessment` take the JSON forms of docs/rest-api.md (what the
server receives and what the SDK sends), check every field, and hand model objects to a
`TraceStore`. The store applies `check_assessment` again to whatever it is given, so a scorer that
builds `Assessment` objects itself obeys the same rules.

Every rule broken raises `ConfigError` whose message names the field; a trace or assessment that
does not exist raises `NotFoundError`.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Mapping
from dataclasses import replace
from typing import TYPE_CHECKING, Any, Final, TypedDict

from tracelake.exceptions import ConfigError, NotFoundError
from tracelake.model import Assessment, AssessmentError, AssessmentKind, AssessmentSource, AssessmentSourceType

if TYPE_CHECKING:
    from tracelake.store.base import TraceStore

NAME_MAX: Final = 250
SOURCE_ID_MAX: Final = 250
SPAN_ID_MAX: Final = 16
INPUT_FIELDS: Final = frozenset({"name", "kind", "value", "rationale", "source", "span_id", "metadata", "error"})
UPDATE_FIELDS: Final = frozenset({"value", "rationale", "metadata", "error", "source"})


class AssessmentChanges(TypedDict, total=False):
    """The fields an update sets; a field that is absent keeps its stored value."""

    value: Any
    rationale: str | None
    metadata: dict[str, str]
    error: AssessmentError | None
    source: AssessmentSource


def new_assessment_id() -> str:
    """Return a fresh assessment id: `a-` and 32 hex digits."""
    return "a-" + uuid.uuid4().hex


def to_json(value: Any, field: str) -> str:
    """Return `value` as compact JSON text; raise `ConfigError` naming `field` if it is not JSON."""
    try:
        text = json.dumps(value, allow_nan=False, ensure_ascii=False, separators=(",", ":"))
    except (TypeError, ValueError) as exc:
        raise invalid_field(field, f"must be JSON (null, bool, number, string, list or object): {exc}") from None
    return _check_text(text, field)


def _check_text(text: str, field: str) -> str:
    # Both databases store UTF-8, and PostgreSQL refuses NUL in text: say so here rather than let
    # the driver fail (JSON text escapes NUL, so only plain text fields can hold one).
    if "\x00" in text:
        raise invalid_field(field, "must not contain NUL characters")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise invalid_field(field, "must be valid Unicode text (it holds a lone surrogate)") from None
    return text


def invalid_field(field: str, problem: str) -> ConfigError:
    """Return the `ConfigError` for a broken rule of one field (the message names the field)."""
    return ConfigError(f"invalid assessment field {field!r}: {problem}")


def _object(data: Any, what: str) -> Mapping[str, Any]:
    if not isinstance(data, Mapping):
        raise ConfigError(f"{what} must be a JSON object, not {type(data).__name__}")
    return data


def _reject_unknown(data: Mapping[str, Any], allowed: frozenset[str], what: str) -> None:
    unknown = sorted(str(key) for key in data if key not in allowed)
    if unknown:
        raise ConfigError(f"{what} has unknown field(s) {', '.join(map(repr, unknown))}; allowed: {sorted(allowed)}")


def parse_value(value: Any) -> Any:
    """Return the value as it will read back from JSON (tuples become lists, keys strings)."""
    return json.loads(to_json(value, "value"))


def parse_name(name: Any) -> str:
    if not isinstance(name, str) or not name.strip() or len(name) > NAME_MAX:
        raise invalid_field("name", f"must be a non-empty string of at most {NAME_MAX} characters, not {name!r:.80}")
    return _check_text(name, "name")


def parse_kind(kind: Any) -> AssessmentKind:
    choices = [k.value for k in AssessmentKind]
    if not isinstance(kind, str) or kind.lower() not in choices:
        raise invalid_field("kind", f"must be one of {choices}, not {kind!r:.80}")
    return AssessmentKind(kind.lower())


def parse_rationale(rationale: Any) -> str | None:
    if rationale is not None and not isinstance(rationale, str):
        raise invalid_field("rationale", f"must be a string or null, not {type(rationale).__name__}")
    return None if rationale is None else _check_text(rationale, "rationale")


def parse_source(source: Any) -> AssessmentSource:
    if source is None:
        return AssessmentSource()
    if not isinstance(source, Mapping):
        raise invalid_field("source", 'must be an object {"source_type", "source_id"}')
    _reject_unknown(source, frozenset({"source_type", "source_id"}), "the assessment source")
    types = [t.value for t in AssessmentSourceType]
    source_type = source.get("source_type", AssessmentSourceType.CODE.value)
    if not isinstance(source_type, str) or source_type.upper() not in types:
        raise invalid_field("source.source_type", f"must be one of {types}, not {source_type!r:.80}")
    source_id = source.get("source_id", "default")
    if not isinstance(source_id, str) or not source_id or len(source_id) > SOURCE_ID_MAX:
        raise invalid_field("source.source_id", f"must be a non-empty string of at most {SOURCE_ID_MAX} characters")
    return AssessmentSource(AssessmentSourceType(source_type.upper()), _check_text(source_id, "source.source_id"))


def parse_span_id(span_id: Any) -> str | None:
    if span_id is not None and (not isinstance(span_id, str) or not span_id or len(span_id) > SPAN_ID_MAX):
        problem = f"must be a span id (at most {SPAN_ID_MAX} characters) or null, not {span_id!r:.80}"
        raise invalid_field("span_id", problem)
    return None if span_id is None else _check_text(span_id, "span_id")


def parse_metadata(metadata: Any) -> dict[str, str]:
    if metadata is None:
        return {}
    if not isinstance(metadata, Mapping):
        raise invalid_field("metadata", "must be an object of string keys to string values")
    for key, value in metadata.items():
        if not isinstance(key, str) or not isinstance(value, str):
            raise invalid_field(f"metadata.{key}", f"keys and values must be strings, not {type(value).__name__}")
    to_json(dict(metadata), "metadata")
    return dict(metadata)


def parse_error(error: Any) -> AssessmentError | None:
    if error is None:
        return None
    if not isinstance(error, Mapping):
        raise invalid_field("error", 'must be an object {"error_code", "error_message"} or null')
    _reject_unknown(error, frozenset({"error_code", "error_message"}), "the assessment error")
    code, message = error.get("error_code"), error.get("error_message", "")
    if not isinstance(code, str) or not code:
        raise invalid_field("error.error_code", "must be a non-empty string")
    if not isinstance(message, str):
        raise invalid_field("error.error_message", "must be a string")
    to_json(dict(error), "error")
    return AssessmentError(code, message)


def check_assessment(assessment: Assessment) -> None:
    """Raise `ConfigError` naming the field if `assessment` breaks a rule of docs/rest-api.md."""
    parse_name(assessment.name)
    parse_kind(assessment.kind)
    to_json(assessment.value, "value")
    parse_rationale(assessment.rationale)
    parse_span_id(assessment.span_id)
    parse_metadata(assessment.metadata)
    parse_source(assessment.source.to_dict())
    parse_error(None if assessment.error is None else assessment.error.to_dict())
    if assessment.kind == AssessmentKind.EXPECTATION:
        if assessment.error is not None:
            raise invalid_field("error", "an expectation cannot carry an error (only feedback can)")
        if assessment.value is None:
            raise invalid_field("value", "an expectation needs a value")
    elif assessment.value is None and assessment.error is None:
        raise invalid_field("value", "a feedback needs a value, unless it carries an error")


def parse_input(data: Any, trace_id: str, now_ms: int) -> Assessment:
    """Build the `Assessment` an `AssessmentInput` describes (its experiment is filled by the store)."""
    data = _object(data, "an assessment")
    _reject_unknown(data, INPUT_FIELDS, "the assessment")
    for required in ("name", "kind"):
        if required not in data:
            raise invalid_field(required, "is required")
    kind = parse_kind(data["kind"])
    if "value" not in data and not (kind == AssessmentKind.FEEDBACK and data.get("error") is not None):
        raise invalid_field("value", "is required")
    assessment = Assessment(
        assessment_id=new_assessment_id(),
        trace_id=trace_id,
        name=parse_name(data["name"]),
        kind=kind,
        value=parse_value(data.get("value")),
        source=parse_source(data.get("source")),
        create_time_ms=now_ms,
        last_update_time_ms=now_ms,
        rationale=parse_rationale(data.get("rationale")),
        span_id=parse_span_id(data.get("span_id")),
        metadata=parse_metadata(data.get("metadata")),
        error=parse_error(data.get("error")),
    )
    check_assessment(assessment)
    return assessment


def parse_changes(changes: Any) -> AssessmentChanges:
    """Return the typed changes of a PATCH body (any of value, rationale, metadata, error, source)."""
    changes = _object(changes, "an assessment update")
    _reject_unknown(changes, UPDATE_FIELDS, "the assessment update")
    if not changes:
        raise ConfigError(f"an assessment update needs at least one of {sorted(UPDATE_FIELDS)}")
    parsed: AssessmentChanges = {}
    if "value" in changes:
        parsed["value"] = parse_value(changes["value"])
    if "rationale" in changes:
        parsed["rationale"] = parse_rationale(changes["rationale"])
    if "metadata" in changes:
        parsed["metadata"] = parse_metadata(changes["metadata"])
    if "error" in changes:
        parsed["error"] = parse_error(changes["error"])
    if "source" in changes:
        parsed["source"] = parse_source(changes["source"])
    return parsed


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


def create_assessment(
    store: TraceStore,
    assessment_input: Any,
    trace_id: str | None = None,
    client_request_id: str | None = None,
    experiment_id: str | None = None,
) -> Assessment:
    """Validate an `AssessmentInput` and store it on the trace named by id or by client request id.

    Args:
        store: where the trace is.
        assessment_input: the JSON form (see docs/rest-api.md).
        trace_id: the trace; or else
        client_request_id: the id its caller chose, looked up within `experiment_id` (the most
            recent trace wins if several share it).
        experiment_id: the experiment to look the client request id up in.

    Raises:
        ConfigError: a field is invalid (the message names it), or the trace is not addressed right.
        NotFoundError: no such trace (or experiment).
    """
    if (trace_id is None) == (client_request_id is None):
        raise ConfigError("an assessment needs exactly one of trace_id and client_request_id")
    if client_request_id is not None:
        if not isinstance(client_request_id, str) or not client_request_id:
            raise ConfigError("client_request_id must be a non-empty string")
        if experiment_id is None:
            raise ConfigError("an assessment addressed by client_request_id needs an experiment_id")
    # Validate before looking the trace up: a bad field is reported as such even on a wrong trace.
    assessment = parse_input(assessment_input, trace_id or "", _now_ms())
    if client_request_id is not None:
        info = store.find_trace_by_client_request_id(str(experiment_id), client_request_id)
        if info is None:
            raise NotFoundError(
                f"no trace with client request id {client_request_id!r} in experiment {experiment_id!r}"
            )
        trace_id = info.trace_id
    return store.add_assessment(replace(assessment, trace_id=str(trace_id)))


def update_assessment(store: TraceStore, trace_id: str, assessment_id: str, changes: Any) -> Assessment:
    """Validate a PATCH body and apply it; return the updated assessment.

    Raises:
        ConfigError: a field is invalid, or the result would break a rule (an error on an
            expectation, a feedback with neither value nor error).
        NotFoundError: no such trace or assessment.
    """
    return store.update_assessment(trace_id, assessment_id, parse_changes(changes))
