"""Keyset pagination: opaque page tokens and the "rows after this one" predicate.

A token holds the sort values of the last row served (ending with its trace id) plus a fingerprint
of the query. The next page starts strictly after that row in the query's total order, so deep
pages cost the same as the first (no OFFSET scan) and rows written meanwhile never shift a page.

Tokens are not signed: every value in one is bound as a parameter and type-checked against its
key, and the experiments searched come from the request, never from the token, so a forged token
can only move the starting point of a search the caller may run anyway.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import math
from collections.abc import Sequence
from typing import Any

from sqlalchemy import ColumnElement, Integer, and_, literal, or_

from tracelake.exceptions import QueryError
from tracelake.query.fields import ValueType
from tracelake.query.order import OrderKey

__all__ = ["decode_token", "encode_token", "query_fingerprint", "rows_after"]

_VERSION = 1
_INT_MIN, _INT_MAX = -(2**63), 2**63 - 1
_MAX_TOKEN_CHARS = 8192
SortValue = str | int | float | None


def query_fingerprint(experiment_ids: Sequence[int] | None, filter_text: str, keys: Sequence[OrderKey]) -> str:
    """Return a short digest identifying a query, so a token is only accepted by the query that made it.

    Args:
        experiment_ids: the experiments searched (None for all).
        filter_text: the canonical filter text (`unparse`), so spacing and aliases do not matter.
        keys: the sort keys.
    """
    experiments = None if experiment_ids is None else sorted(set(experiment_ids))
    order = [[key.spec.name, key.descending] for key in keys]
    canonical = json.dumps([experiments, filter_text, order], separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()[:16]


def encode_token(fingerprint: str, values: Sequence[SortValue]) -> str:
    """Return the URL-safe page token that resumes after a row with these sort values."""
    payload = json.dumps({"v": _VERSION, "q": fingerprint, "k": list(values)}, separators=(",", ":"))
    return base64.urlsafe_b64encode(payload.encode()).decode().rstrip("=")


def decode_token(token: str, fingerprint: str, keys: Sequence[OrderKey]) -> list[SortValue]:
    """Check a page token against the query and return the sort values it carries.

    Raises:
        QueryError: if the token is malformed, or was made by a different query (other
            experiments, filter or order).
    """
    try:
        if not isinstance(token, str) or len(token) > _MAX_TOKEN_CHARS:
            raise ValueError("not a token")
        payload = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
        if not isinstance(payload, dict) or payload.get("v") != _VERSION or not isinstance(payload.get("q"), str):
            raise ValueError("not a token")
        values = payload.get("k")
        if not isinstance(values, list) or len(values) != len(keys):
            raise ValueError("not a token")
    except (ValueError, binascii.Error, UnicodeDecodeError) as error:
        raise QueryError("invalid page token") from error
    if payload["q"] != fingerprint:
        raise QueryError("page token belongs to a different query: keep experiment_ids, filter and order_by unchanged")
    for key, value in zip(keys, values, strict=True):
        if not _fits(key, value):
            raise QueryError("invalid page token")
    return values


def _fits(key: OrderKey, value: Any) -> bool:
    # A value the column could not hold would fail in the driver (a StoreError, not a 4xx).
    if value is None:
        return key.spec.nullable
    if key.spec.value_type is not ValueType.NUMBER:
        return isinstance(value, str)
    if isinstance(key.column.type, Integer):
        return type(value) is int and _INT_MIN <= value <= _INT_MAX
    return type(value) in (int, float) and math.isfinite(value)


def rows_after(keys: Sequence[OrderKey], values: Sequence[SortValue]) -> ColumnElement[bool]:
    """Return the condition "this row sorts strictly after the row with `values`" for `keys`.

    Built from the last key outwards: after(i) = beyond(key i) OR (same(key i) AND after(i + 1)),
    with NULL treated as greater than every value (NULLs sort last in both directions). The first
    key also gets a redundant range bound, so the database can start an index scan there.
    """
    pairs = list(zip(keys, values, strict=True))
    last_key, last_value = pairs[-1]
    condition = _beyond(last_key, last_value)
    if condition is None:
        raise ValueError("the last sort key must be unique and never NULL (trace_id)")
    for key, value in reversed(pairs[:-1]):
        beyond = _beyond(key, value)
        same = key.column.is_(None) if value is None else key.column == _bind(key, value)
        tail = and_(same, condition)
        condition = tail if beyond is None else or_(beyond, tail)
    return and_(_from(keys[0], values[0]), condition)


def _bind(key: OrderKey, value: SortValue) -> ColumnElement[Any]:
    return literal(value, key.column.type)


def _beyond(key: OrderKey, value: SortValue) -> ColumnElement[bool] | None:
    if value is None:
        return None  # NULLs sort last: nothing lies beyond one but other NULLs (ties)
    column, bound = key.column, _bind(key, value)
    strictly = column < bound if key.descending else column > bound
    return or_(strictly, column.is_(None)) if key.spec.nullable else strictly


def _from(key: OrderKey, value: SortValue) -> ColumnElement[bool]:
    if value is None:
        return key.column.is_(None)
    column, bound = key.column, _bind(key, value)
    inclusive = column <= bound if key.descending else column >= bound
    return or_(inclusive, column.is_(None)) if key.spec.nullable else inclusive
