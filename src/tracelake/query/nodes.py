"""The filter AST: what `parse_filter` returns and `compile_filter` consumes.

Nodes are frozen dataclasses. Source positions are kept for error messages but excluded from
equality, so two spellings of one filter (extra spaces, aliases, keyword case) compare equal and
`unparse` gives both the same canonical text.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import TypeAlias

from tracelake.query.fields import FieldKind, FieldSpec, Operator

__all__ = ["And", "Comparison", "Expression", "Field", "Or", "Scalar", "Value", "unparse"]

Scalar: TypeAlias = str | int | float
Value: TypeAlias = Scalar | tuple[Scalar, ...] | None


@dataclass(frozen=True, slots=True)
class Field:
    """A resolved identifier.

    Attributes:
        kind: where the values live (trace column, tag, metadata, span column).
        spec: the field's definition; for tags and metadata, the generic key/value spec.
        key: the tag or metadata key (case-sensitive, as written); None for other kinds.
        position: offset of the identifier in the filter string.
    """

    kind: FieldKind
    spec: FieldSpec
    key: str | None = None
    position: int = dataclasses.field(default=0, compare=False)

    @property
    def display(self) -> str:
        """The canonical spelling, e.g. `status`, `span.type` or ``tags.`my key` ``."""
        if self.kind is FieldKind.ATTRIBUTE:
            return self.spec.name
        if self.kind is FieldKind.SPAN:
            return f"span.{self.spec.name}"
        prefix = {FieldKind.TAG: "tags", FieldKind.FEEDBACK: "feedback"}.get(self.kind, "metadata")
        return f"{prefix}.{_quote_key(self.key or '')}"


@dataclass(frozen=True, slots=True)
class Comparison:
    """`<field> <op> <value>`; `value` is a tuple for IN / NOT IN and None for the IS tests."""

    field: Field
    op: Operator
    value: Value
    position: int = dataclasses.field(default=0, compare=False)
    value_position: int = dataclasses.field(default=0, compare=False)


@dataclass(frozen=True, slots=True)
class And:
    """All operands hold (two or more)."""

    operands: tuple[Expression, ...]


@dataclass(frozen=True, slots=True)
class Or:
    """At least one operand holds (two or more)."""

    operands: tuple[Expression, ...]


Expression: TypeAlias = Comparison | And | Or


def _is_word(part: str) -> bool:
    return bool(part) and all(char.isalnum() or char == "_" for char in part)


def _quote_key(key: str) -> str:
    # Dotted keys of plain words read back identically without backticks (`tags.a.b`).
    if all(_is_word(part) for part in key.split(".")):
        return key
    return "`" + key.replace("`", "``") + "`"


def _literal(value: Scalar) -> str:
    if isinstance(value, str):
        return "'" + value.replace("'", "''") + "'"
    return repr(value)


def unparse(expression: Expression) -> str:
    """Render an expression as canonical filter text that parses back to an equal expression.

    Args:
        expression: a parsed filter.

    Returns:
        The filter with canonical field names, upper-case keywords, single-quoted strings and
        only the parentheses that precedence requires.
    """
    if isinstance(expression, Comparison):
        head = f"{expression.field.display} {expression.op.value}"
        value = expression.value
        if value is None:
            return head
        if isinstance(value, tuple):
            return f"{head} (" + ", ".join(_literal(item) for item in value) + ")"
        return f"{head} {_literal(value)}"
    if isinstance(expression, And):
        # AND binds tighter than OR, so only OR operands need parentheses.
        return " AND ".join(
            f"({unparse(operand)})" if isinstance(operand, Or) else unparse(operand) for operand in expression.operands
        )
    return " OR ".join(unparse(operand) for operand in expression.operands)
