"""`order_by` clauses: parsing, and the ORDER BY they become.

Every ordering ends with `trace_id` so that it is total: keyset pagination needs each row to have
a unique position. Missing values (an in-progress trace has no execution time) sort last in both
directions on every database, where SQLite and PostgreSQL would otherwise disagree.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement

from tracelake.exceptions import QueryError
from tracelake.query.fields import (
    ATTRIBUTE_FIELDS,
    ATTRIBUTES_BY_NAME,
    CANONICAL_NAMES,
    PREFIXES,
    FieldKind,
    FieldSpec,
    did_you_mean,
    lookup_attribute,
)
from tracelake.query.lexer import TokenKind, tokenize
from tracelake.store.sql.schema import traces

__all__ = ["DEFAULT_ORDER_BY", "OrderKey", "order_clauses", "parse_order_by"]

#: Newest first.
DEFAULT_ORDER_BY = ("timestamp_ms DESC",)
_TRACE_ID = ATTRIBUTES_BY_NAME["trace_id"]
_ORDERABLE = ", ".join(spec.name for spec in ATTRIBUTE_FIELDS)


@dataclass(frozen=True, slots=True)
class OrderKey:
    """One sort key: a trace attribute and its direction."""

    spec: FieldSpec
    descending: bool = False

    @property
    def column(self) -> ColumnElement[Any]:
        """The `traces` column this key sorts on."""
        return traces.c[self.spec.column]


def _parse_clause(clause: str, index: int) -> OrderKey:
    def error(message: str, position: int) -> QueryError:
        return QueryError(f"order_by[{index}]: {message}", position, clause)

    tokens = tokenize(clause)
    first = tokens[0]
    if first.kind is not TokenKind.WORD:
        raise error("expected a field name, e.g. 'timestamp_ms DESC'", first.position)
    parts = first.value
    assert isinstance(parts, tuple)  # WORD tokens carry their dotted parts
    head = parts[0].lower()
    if len(parts) == 2 and not first.quoted[0] and PREFIXES.get(head) is FieldKind.ATTRIBUTE:
        parts = parts[1:]
    written = clause[first.position : first.end]
    spec = lookup_attribute(parts[0]) if len(parts) == 1 else None
    if spec is None:
        if len(parts) > 1 and PREFIXES.get(head) in (
            FieldKind.TAG,
            FieldKind.METADATA,
            FieldKind.SPAN,
            FieldKind.FEEDBACK,
        ):
            raise error(f"cannot order by {written!r}; order by one of {_ORDERABLE}", first.position)
        hint = did_you_mean(written, CANONICAL_NAMES, CANONICAL_NAMES)
        raise error(f"unknown field {written!r}{hint}", first.position)
    direction = tokens[1]
    descending = False
    if direction.kind is not TokenKind.END:
        word = direction.keyword()
        if word not in ("ASC", "DESC"):
            raise error(
                f"expected ASC, DESC or the end, found {clause[direction.position : direction.end]!r}",
                direction.position,
            )
        descending = word == "DESC"
        trailing = tokens[2]
        if trailing.kind is not TokenKind.END:
            raise error(f"unexpected {clause[trailing.position : trailing.end]!r} after {word}", trailing.position)
    return OrderKey(spec, descending)


def parse_order_by(order_by: Sequence[str] | str | None) -> tuple[OrderKey, ...]:
    """Parse `order_by` clauses such as ``["timestamp_ms DESC", "name"]`` into sort keys.

    Args:
        order_by: clauses of the form `<field> [ASC|DESC]` (ascending by default); a single string
            is taken as one clause. None or empty means newest first.

    Returns:
        The keys in order, always ending with `trace_id` (ascending unless given otherwise); keys
        listed after `trace_id` are dropped, as they cannot change the order.

    Raises:
        QueryError: for an unknown or unsortable field, a bad direction, a field listed twice or
            trailing text; the message names the clause index and `position` is within the clause.
    """
    if isinstance(order_by, str):
        order_by = [order_by]
    clauses = list(order_by) if order_by else list(DEFAULT_ORDER_BY)
    keys: list[OrderKey] = []
    for index, clause in enumerate(clauses):
        if not isinstance(clause, str):
            raise QueryError(f"order_by[{index}] must be a string, not {type(clause).__name__}")
        if not clause.strip():
            raise QueryError(f"order_by[{index}] is empty; expected e.g. 'timestamp_ms DESC'", 0, clause)
        key = _parse_clause(clause, index)
        if any(existing.spec is key.spec for existing in keys):
            raise QueryError(f"order_by[{index}]: {key.spec.name} is already in order_by", 0, clause)
        keys.append(key)
        if key.spec is _TRACE_ID:
            # trace_id is unique: keys after it could never reorder anything, so drop them and
            # keep trace_id last, where keyset pagination needs it.
            return tuple(keys)
    keys.append(OrderKey(_TRACE_ID))
    return tuple(keys)


def order_clauses(keys: Sequence[OrderKey]) -> list[ColumnElement[Any]]:
    """Return the ORDER BY terms for `keys`, with NULLs last for nullable columns."""
    terms: list[ColumnElement[Any]] = []
    for key in keys:
        term = key.column.desc() if key.descending else key.column.asc()
        # NULLS LAST only where NULLs can occur: on a NOT NULL column it would stop PostgreSQL
        # from reading a descending order straight off an ascending index.
        terms.append(term.nulls_last() if key.spec.nullable else term)
    return terms
