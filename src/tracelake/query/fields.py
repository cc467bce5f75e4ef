"""The names a filter or order-by may use, what they mean and which operators they take.

One catalog serves the parser (type checks, suggestions), the compiler (columns) and the docs.
"""

from __future__ import annotations

import difflib
import enum
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

__all__ = [
    "ATTRIBUTES_BY_NAME",
    "ATTRIBUTE_FIELDS",
    "CANONICAL_NAMES",
    "FEEDBACK_SPEC",
    "FieldKind",
    "FieldSpec",
    "KEY_VALUE_SPEC",
    "Operator",
    "PREFIXES",
    "SPANS_BY_NAME",
    "SPAN_FIELDS",
    "ValueType",
    "allowed_operators",
    "did_you_mean",
    "lookup_attribute",
]


class FieldKind(enum.Enum):
    """Where a field's values live."""

    ATTRIBUTE = "attribute"
    """A column of the `traces` row."""
    TAG = "tag"
    """A row of `trace_tags` with the given key."""
    METADATA = "metadata"
    """A row of `trace_metadata` with the given key."""
    SPAN = "span"
    """A column of any of the trace's `spans` rows."""
    FEEDBACK = "feedback"
    """The value of a feedback `assessments` row with the given name (judges, scorers, users)."""


class ValueType(enum.Enum):
    """What kind of literal a field compares against."""

    STRING = "string"
    NUMBER = "number"
    ENUM = "enum"
    """A string from a fixed set, matched case-insensitively and stored upper-case."""
    JSON = "json"
    """A JSON value: compared as a number with a number literal, as a string with a string literal."""


class Operator(enum.Enum):
    """Comparison operators, spelled as in a filter string."""

    EQ = "="
    NE = "!="
    LT = "<"
    LE = "<="
    GT = ">"
    GE = ">="
    LIKE = "LIKE"
    ILIKE = "ILIKE"
    IN = "IN"
    NOT_IN = "NOT IN"
    IS_NULL = "IS NULL"
    IS_NOT_NULL = "IS NOT NULL"


@dataclass(frozen=True, slots=True)
class FieldSpec:
    """One filterable name.

    Attributes:
        name: the canonical name (`timestamp_ms`), as shown in messages and docs.
        column: the column holding the values (on `traces`, or on `spans` for span fields).
        value_type: the kind of literal it compares against.
        nullable: whether `IS NULL` / `IS NOT NULL` make sense for it.
        aliases: other accepted spellings.
        choices: the allowed values of an ENUM field.
    """

    name: str
    column: str
    value_type: ValueType
    nullable: bool = False
    aliases: tuple[str, ...] = ()
    choices: tuple[str, ...] = ()


_COMPARISONS = frozenset({Operator.EQ, Operator.NE, Operator.LT, Operator.LE, Operator.GT, Operator.GE})
_MEMBERSHIP = frozenset({Operator.IN, Operator.NOT_IN})
_EQUALITY = frozenset({Operator.EQ, Operator.NE})
_PATTERNS = frozenset({Operator.LIKE, Operator.ILIKE})
_NULL_TESTS = frozenset({Operator.IS_NULL, Operator.IS_NOT_NULL})

_STATES = ("OK", "ERROR", "IN_PROGRESS")
_SPAN_STATUSES = ("UNSET", "OK", "ERROR")

ATTRIBUTE_FIELDS: tuple[FieldSpec, ...] = (
    FieldSpec("trace_id", "trace_id", ValueType.STRING, aliases=("request_id",)),
    FieldSpec("status", "state", ValueType.ENUM, aliases=("state",), choices=_STATES),
    FieldSpec("name", "name", ValueType.STRING, nullable=True, aliases=("trace_name",)),
    FieldSpec("timestamp_ms", "request_time", ValueType.NUMBER, aliases=("timestamp", "request_time")),
    FieldSpec("end_time_ms", "end_time", ValueType.NUMBER, nullable=True, aliases=("end_time",)),
    FieldSpec(
        "execution_time_ms",
        "execution_duration",
        ValueType.NUMBER,
        nullable=True,
        aliases=("execution_time", "execution_duration"),
    ),
    FieldSpec("client_request_id", "client_request_id", ValueType.STRING, nullable=True),
    FieldSpec("session", "session_id", ValueType.STRING, nullable=True, aliases=("session_id",)),
    FieldSpec("user", "user_id", ValueType.STRING, nullable=True, aliases=("user_id",)),
    FieldSpec("input_tokens", "input_tokens", ValueType.NUMBER, nullable=True),
    FieldSpec("output_tokens", "output_tokens", ValueType.NUMBER, nullable=True),
    FieldSpec("total_tokens", "total_tokens", ValueType.NUMBER, nullable=True, aliases=("tokens",)),
    FieldSpec("input_cost", "input_cost", ValueType.NUMBER, nullable=True),
    FieldSpec("output_cost", "output_cost", ValueType.NUMBER, nullable=True),
    FieldSpec("total_cost", "total_cost", ValueType.NUMBER, nullable=True, aliases=("cost",)),
    FieldSpec("span_count", "span_count", ValueType.NUMBER),
)

SPAN_FIELDS: tuple[FieldSpec, ...] = (
    FieldSpec("name", "name", ValueType.STRING),
    FieldSpec("type", "span_type", ValueType.STRING, aliases=("span_type",)),
    FieldSpec("status", "status", ValueType.ENUM, choices=_SPAN_STATUSES),
    FieldSpec("model", "model_name", ValueType.STRING, aliases=("model_name",)),
)

ATTRIBUTES_BY_NAME = {name: spec for spec in ATTRIBUTE_FIELDS for name in (spec.name, *spec.aliases)}
SPANS_BY_NAME = {name: spec for spec in SPAN_FIELDS for name in (spec.name, *spec.aliases)}

#: Every accepted spelling of a trace attribute or span field, mapped to its canonical name.
CANONICAL_NAMES = {
    **{name: spec.name for name, spec in ATTRIBUTES_BY_NAME.items()},
    **{f"span.{name}": f"span.{spec.name}" for name, spec in SPANS_BY_NAME.items()},
}

#: Prefixes naming where a key lives; the value is what the rest of the identifier names.
PREFIXES: dict[str, FieldKind] = {
    "trace": FieldKind.ATTRIBUTE,
    "attribute": FieldKind.ATTRIBUTE,
    "attributes": FieldKind.ATTRIBUTE,
    "tags": FieldKind.TAG,
    "tag": FieldKind.TAG,
    "metadata": FieldKind.METADATA,
    "request_metadata": FieldKind.METADATA,
    "span": FieldKind.SPAN,
    "spans": FieldKind.SPAN,
    "feedback": FieldKind.FEEDBACK,
}

#: Tags and metadata are free-form strings that may be absent.
KEY_VALUE_SPEC = FieldSpec("value", "value", ValueType.STRING, nullable=True)

#: Feedback values are strings, numbers or bools (compared as 1 and 0); a trace may have none.
FEEDBACK_SPEC = FieldSpec("value", "value", ValueType.JSON, nullable=True)


def lookup_attribute(name: str) -> FieldSpec | None:
    """Return the trace attribute called `name` (case-insensitive, aliases accepted), if any."""
    return ATTRIBUTES_BY_NAME.get(name.lower())


def allowed_operators(spec: FieldSpec) -> frozenset[Operator]:
    """Return the operators that make sense for a field."""
    if spec.value_type is ValueType.NUMBER:
        allowed = _COMPARISONS | _MEMBERSHIP
    elif spec.value_type is ValueType.ENUM:
        allowed = _EQUALITY | _MEMBERSHIP
    elif spec.value_type is ValueType.JSON:
        allowed = _COMPARISONS | _PATTERNS | _MEMBERSHIP
    else:
        allowed = _EQUALITY | _PATTERNS | _MEMBERSHIP
    return allowed | _NULL_TESTS if spec.nullable else allowed


def did_you_mean(word: str, candidates: Iterable[str], canonical: Mapping[str, str] | None = None) -> str:
    """Return a " (did you mean …?)" hint naming up to three candidates close to `word`, or "".

    Args:
        word: what the user wrote.
        candidates: the names that exist.
        canonical: maps aliases to the name to show, so two spellings of one field show once.
    """
    matches = difflib.get_close_matches(word.lower(), list(candidates), n=5, cutoff=0.6)
    names = list(dict.fromkeys((canonical or {}).get(match, match) for match in matches))[:3]
    if not names:
        return ""
    return " (did you mean " + " or ".join(repr(name) for name in names) + "?)"
