r"""LIKE and ILIKE with the same meaning on SQLite and PostgreSQL.

PostgreSQL's LIKE is case-sensitive, but SQLite's folds ASCII case unless a per-connection pragma
says otherwise, which a shared store cannot rely on. So case-sensitive LIKE is a small SQL
construct that renders as `LIKE … ESCAPE '\'` everywhere except SQLite, where it renders as
`GLOB` with the pattern translated (GLOB is always case-sensitive and can use an index on a prefix).
ILIKE uses SQLAlchemy's own `ilike`: ILIKE on PostgreSQL, `lower(x) LIKE lower(y)` elsewhere.

Patterns use `%` (any run of characters), `_` (one character) and `\` to escape the next character.
Known gap: SQLite's `lower()` folds ASCII only, so ILIKE there ignores case for ASCII letters only.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Boolean, ColumnElement, String, literal
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.functions import FunctionElement

__all__ = ["ESCAPE", "case_insensitive_like", "case_sensitive_like", "like_to_glob"]

#: The escape character of every pattern we emit.
ESCAPE = "\\"
_GLOB_SPECIAL = frozenset("*?[")


def like_to_glob(pattern: str) -> str:
    """Translate a LIKE pattern (with backslash escapes) into an equivalent SQLite GLOB pattern.

    Args:
        pattern: a LIKE pattern; the parser has already rejected a trailing lone backslash.

    Returns:
        The GLOB pattern: `%` → `*`, `_` → `?`, and GLOB's own metacharacters (and every escaped
        character) as literals in brackets where needed.
    """
    out: list[str] = []
    index = 0
    while index < len(pattern):
        char = pattern[index]
        if char == ESCAPE and index + 1 < len(pattern):
            index += 1
            out.append(_glob_literal(pattern[index]))
        elif char == "%":
            out.append("*")
        elif char == "_":
            out.append("?")
        else:
            out.append(_glob_literal(char))
        index += 1
    return "".join(out)


def _glob_literal(char: str) -> str:
    # In GLOB a bracket expression holding one character matches exactly that character.
    return f"[{char}]" if char in _GLOB_SPECIAL else char


class _CaseSensitiveLike(FunctionElement[bool]):
    """`column LIKE pattern`, case-sensitive on every dialect.

    Arguments (all SQL elements, so statement caching keys on them): the column, the LIKE
    pattern as a bound parameter, and the same pattern translated to GLOB as a bound parameter.
    Only one of the two parameters is rendered, depending on the dialect.
    """

    type = Boolean()
    name = "tracelake_like"
    inherit_cache = True


@compiles(_CaseSensitiveLike)
def _render_like(element: _CaseSensitiveLike, compiler: SQLCompiler, **kw: Any) -> str:
    column, pattern, _glob = element.clauses.clauses
    return compiler.process(column.like(pattern, escape=ESCAPE), **kw)


@compiles(_CaseSensitiveLike, "sqlite")
def _render_glob(element: _CaseSensitiveLike, compiler: SQLCompiler, **kw: Any) -> str:
    column, _pattern, glob = element.clauses.clauses
    # Parenthesised: SQLite has no boolean type, so SQLAlchemy may append "= 1" to the construct.
    return f"({compiler.process(column, **kw)} GLOB {compiler.process(glob, **kw)})"


def case_sensitive_like(column: ColumnElement[Any], pattern: str) -> ColumnElement[bool]:
    """Return `column LIKE pattern`, case-sensitive on SQLite and PostgreSQL alike."""
    return _CaseSensitiveLike(column, literal(pattern, String()), literal(like_to_glob(pattern), String()))


def case_insensitive_like(column: ColumnElement[Any], pattern: str) -> ColumnElement[bool]:
    """Return `column ILIKE pattern` (portable: SQLAlchemy lowers both sides where ILIKE is missing)."""
    return column.ilike(literal(pattern, String()), escape=ESCAPE)
