"""Recursive-descent parser: filter string → typed AST, with every error pointing at a character.

    filter     := [or_expr] END
    or_expr    := and_expr ("OR" and_expr)*
    and_expr   := primary ("AND" primary)*           AND binds tighter than OR
    primary    := "(" or_expr ")" | comparison
    comparison := field ( OPERATOR value | ("LIKE" | "ILIKE") string
                        | ["NOT"] "IN" "(" value ("," value)* ")" | "IS" ["NOT"] "NULL" )

Keywords are case-insensitive. Fields are resolved and type-checked here, so a filter that
parses is a filter that compiles.
"""

from __future__ import annotations

from tracelake.exceptions import QueryError
from tracelake.query.fields import (
    ATTRIBUTES_BY_NAME,
    CANONICAL_NAMES,
    FEEDBACK_SPEC,
    KEY_VALUE_SPEC,
    PREFIXES,
    SPAN_FIELDS,
    SPANS_BY_NAME,
    FieldKind,
    Operator,
    ValueType,
    allowed_operators,
    did_you_mean,
    lookup_attribute,
)
from tracelake.query.lexer import Token, TokenKind, tokenize
from tracelake.query.nodes import And, Comparison, Expression, Field, Or, Scalar, Value

__all__ = ["MAX_CONDITIONS", "MAX_DEPTH", "MAX_FILTER_CHARS", "MAX_LIST_VALUES", "parse_filter"]

#: Limits that keep a hostile filter from exhausting the parser or the database's expression depth.
MAX_FILTER_CHARS = 100_000
MAX_CONDITIONS = 200
MAX_DEPTH = 32
MAX_LIST_VALUES = 1000

_KEYWORDS = frozenset({"AND", "OR", "NOT", "IN", "LIKE", "ILIKE", "IS", "NULL"})
_SYMBOLS = {
    "=": Operator.EQ,
    "!=": Operator.NE,
    "<": Operator.LT,
    "<=": Operator.LE,
    ">": Operator.GT,
    ">=": Operator.GE,
}
_OPERATOR_HINT = "=, !=, <, <=, >, >=, LIKE, ILIKE, IN, NOT IN, IS NULL or IS NOT NULL"


def _describe(token: Token, text: str) -> str:
    if token.kind is TokenKind.END:
        return "the end of the filter"
    return repr(text[token.position : token.end])


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.tokens = tokenize(text)
        self.index = 0
        self.conditions = 0

    # Token helpers ----------------------------------------------------------------------------
    @property
    def token(self) -> Token:
        return self.tokens[self.index]

    def advance(self) -> Token:
        token = self.tokens[self.index]
        if token.kind is not TokenKind.END:
            self.index += 1
        return token

    def at(self, kind: TokenKind) -> bool:
        return self.token.kind is kind

    def at_keyword(self, word: str) -> bool:
        return self.token.keyword() == word

    def error(self, message: str, position: int) -> QueryError:
        return QueryError(message, position, self.text)

    def unexpected(self, expected: str) -> QueryError:
        return self.error(f"expected {expected}, found {_describe(self.token, self.text)}", self.token.position)

    # Boolean structure ------------------------------------------------------------------------
    def parse(self) -> Expression | None:
        if self.at(TokenKind.END):
            return None
        expression = self.or_expr(0)
        if self.at(TokenKind.RPAREN):
            raise self.error("unbalanced ')': no '(' to close", self.token.position)
        if not self.at(TokenKind.END):
            raise self.unexpected("AND, OR or the end of the filter")
        return expression

    def or_expr(self, depth: int) -> Expression:
        operands = [self.and_expr(depth)]
        while self.at_keyword("OR"):
            self.advance()
            operands.append(self.and_expr(depth))
        return _combine(Or, operands)

    def and_expr(self, depth: int) -> Expression:
        operands = [self.primary(depth)]
        while self.at_keyword("AND"):
            self.advance()
            operands.append(self.primary(depth))
        return _combine(And, operands)

    def primary(self, depth: int) -> Expression:
        if not self.at(TokenKind.LPAREN):
            return self.comparison()
        opening = self.advance()
        if depth >= MAX_DEPTH:
            raise self.error(f"parentheses nested deeper than {MAX_DEPTH} levels", opening.position)
        expression = self.or_expr(depth + 1)
        if self.at(TokenKind.END):
            raise self.error("unbalanced '(': no ')' closes it", opening.position)
        if not self.at(TokenKind.RPAREN):
            raise self.unexpected("AND, OR or ')'")
        self.advance()
        return expression

    # Comparisons ------------------------------------------------------------------------------
    def comparison(self) -> Comparison:
        token = self.token
        if token.kind is not TokenKind.WORD or token.keyword() in _KEYWORDS:
            hint = " (names are not quoted; put keys with dots or spaces in backticks)"
            raise self.unexpected("a field name" + (hint if token.kind is TokenKind.STRING else ""))
        self.advance()
        self.conditions += 1
        if self.conditions > MAX_CONDITIONS:
            raise self.error(f"more than {MAX_CONDITIONS} conditions in one filter", token.position)
        field = self.resolve(token)
        op_position = self.token.position
        op = self.operator(field)
        if op not in allowed_operators(field.spec):
            raise self.error(_operator_message(field, op), op_position)
        value_position = self.token.position
        value = self.operand(field, op)
        return Comparison(field, op, value, position=token.position, value_position=value_position)

    def resolve(self, token: Token) -> Field:
        parts = token.value
        assert isinstance(parts, tuple)  # the lexer makes WORD values tuples
        written = self.text[token.position : token.end]
        head = parts[0].lower()
        kind = None if token.quoted[0] else PREFIXES.get(head)
        if len(parts) == 1:
            spec = lookup_attribute(parts[0])
            if spec is not None:
                return Field(FieldKind.ATTRIBUTE, spec, position=token.position)
            if kind is not None:
                raise self.error(f"{written!r} needs a name after it, e.g. {head}.<name>", token.end)
            hint = did_you_mean(head, [*CANONICAL_NAMES, "tags", "metadata"], CANONICAL_NAMES)
            raise self.error(f"unknown field {written!r}{hint}", token.position)
        rest = parts[1:]
        if kind in (FieldKind.TAG, FieldKind.METADATA):
            return Field(kind, KEY_VALUE_SPEC, key=".".join(rest), position=token.position)
        if kind is FieldKind.FEEDBACK:
            return Field(kind, FEEDBACK_SPEC, key=".".join(rest), position=token.position)
        if kind is FieldKind.ATTRIBUTE:
            spec = lookup_attribute(rest[0]) if len(rest) == 1 else None
            if spec is None:
                hint = did_you_mean(".".join(rest), ATTRIBUTES_BY_NAME, CANONICAL_NAMES)
                raise self.error(f"unknown trace attribute {written!r}{hint}", token.position)
            return Field(FieldKind.ATTRIBUTE, spec, position=token.position)
        if kind is FieldKind.SPAN:
            spec = SPANS_BY_NAME.get(rest[0].lower()) if len(rest) == 1 else None
            if spec is None:
                known = ", ".join(f"span.{spec.name}" for spec in SPAN_FIELDS)
                raise self.error(f"unknown span field {written!r}; span fields are {known}", token.position)
            return Field(FieldKind.SPAN, spec, position=token.position)
        hint = did_you_mean(head, PREFIXES)
        raise self.error(f"unknown field {written!r}: {parts[0]!r} is not a known prefix{hint}", token.position)

    def operator(self, field: Field) -> Operator:
        token = self.token
        if token.kind is TokenKind.OPERATOR:
            self.advance()
            return _SYMBOLS[str(token.value)]
        word = token.keyword()
        if word in ("LIKE", "ILIKE", "IN"):
            self.advance()
            return Operator[word]
        if word == "NOT":
            self.advance()
            if not self.at_keyword("IN"):
                raise self.unexpected("IN after NOT")
            self.advance()
            return Operator.NOT_IN
        if word == "IS":
            self.advance()
            negated = self.at_keyword("NOT")
            if negated:
                self.advance()
            if not self.at_keyword("NULL"):
                raise self.unexpected("NULL after IS NOT" if negated else "NULL or NOT NULL after IS")
            self.advance()
            return Operator.IS_NOT_NULL if negated else Operator.IS_NULL
        raise self.unexpected(f"an operator ({_OPERATOR_HINT}) after {field.display!r}")

    def operand(self, field: Field, op: Operator) -> Value:
        if op in (Operator.IS_NULL, Operator.IS_NOT_NULL):
            return None
        if op not in (Operator.IN, Operator.NOT_IN):
            return self.scalar(field, op)
        if not self.at(TokenKind.LPAREN):
            raise self.unexpected(f"'(' to start the {op.value} list")
        opening = self.advance()
        values = [self.scalar(field, op)]
        while self.at(TokenKind.COMMA):
            self.advance()
            if len(values) >= MAX_LIST_VALUES:
                raise self.error(f"more than {MAX_LIST_VALUES} values in one list", self.token.position)
            values.append(self.scalar(field, op))
        if self.at(TokenKind.END):
            raise self.error("unbalanced '(': the list is not closed", opening.position)
        if not self.at(TokenKind.RPAREN):
            raise self.unexpected("',' or ')' in the list")
        self.advance()
        return tuple(values)

    def scalar(self, field: Field, op: Operator) -> Scalar:
        token = self.token
        if token.kind is TokenKind.END:
            raise self.error(f"missing value after {op.value}", token.position)
        if token.keyword() == "NULL":
            raise self.error("compare with NULL using IS NULL or IS NOT NULL", token.position)
        if token.kind not in (TokenKind.STRING, TokenKind.NUMBER):
            hint = " (quote strings)" if token.kind is TokenKind.WORD else ""
            raise self.unexpected(f"a value{hint}")
        self.advance()
        return _check_value(field, op, token, self)


def _check_value(field: Field, op: Operator, token: Token, parser: _Parser) -> Scalar:
    spec, value = field.spec, token.value
    assert isinstance(value, (str, int, float))  # STRING and NUMBER tokens carry these
    if spec.value_type is ValueType.JSON:
        if isinstance(value, str) and op in (Operator.LT, Operator.LE, Operator.GT, Operator.GE):
            raise parser.error(f"{field.display} {op.value} needs a number, not {value!r}", token.position)
        if not isinstance(value, str) and op in (Operator.LIKE, Operator.ILIKE):
            raise parser.error(f"{op.value} needs a quoted pattern, not {value!r}", token.position)
        if op in (Operator.LIKE, Operator.ILIKE):
            _check_pattern(str(value), token, parser)
        return value
    if spec.value_type is ValueType.NUMBER:
        if isinstance(value, str):
            raise parser.error(f"{field.display} is a number: write {value!r} without quotes", token.position)
        return value
    if not isinstance(value, str):
        raise parser.error(f"{field.display} is a string: quote the value, e.g. '{value}'", token.position)
    if spec.value_type is ValueType.ENUM:
        upper = value.upper()
        if upper not in spec.choices:
            choices = ", ".join(spec.choices)
            raise parser.error(f"{field.display} is one of {choices}, not {value!r}", token.position)
        return upper
    if op in (Operator.LIKE, Operator.ILIKE):
        _check_pattern(value, token, parser)
    return value


def _check_pattern(pattern: str, token: Token, parser: _Parser) -> None:
    # Backslash escapes the next character in LIKE patterns; a trailing one escapes nothing.
    index = 0
    while index < len(pattern):
        if pattern[index] == "\\":
            if index + 1 == len(pattern):
                raise parser.error("LIKE pattern ends with an escape character '\\'", token.end - 2)
            index += 1
        index += 1


def _operator_message(field: Field, op: Operator) -> str:
    allowed = [candidate.value for candidate in Operator if candidate in allowed_operators(field.spec)]
    kind = {
        ValueType.NUMBER: "a number",
        ValueType.ENUM: "a fixed set of values",
        ValueType.STRING: "a string",
        ValueType.JSON: "a string or a number",
    }
    what = kind[field.spec.value_type]
    return f"{op.value} does not apply to {field.display} ({what}); use {', '.join(allowed)}"


def _combine(node: type[And] | type[Or], operands: list[Expression]) -> Expression:
    if len(operands) == 1:
        return operands[0]
    flat: list[Expression] = []
    for operand in operands:
        # (a AND b) AND c is a AND b AND c: one canonical shape per meaning.
        flat.extend(operand.operands if isinstance(operand, node) else (operand,))
    return node(tuple(flat))


def parse_filter(text: str | None) -> Expression | None:
    """Parse a filter string into a typed expression.

    Args:
        text: the filter, e.g. ``status = 'ERROR' AND (tags.env = 'prod' OR timestamp_ms > 1700000000000)``.
            None, "" or only spaces mean "no filter".

    Returns:
        The expression, or None when there is no filter.

    Raises:
        QueryError: when the filter is malformed or names an unknown field, an operator the field
            does not support or a value of the wrong type; `position` says where.
    """
    if text is None:
        return None
    if len(text) > MAX_FILTER_CHARS:
        # No `text` in the error: echoing the whole input back would make a huge message.
        raise QueryError(f"filter is longer than {MAX_FILTER_CHARS} characters", MAX_FILTER_CHARS)
    return _Parser(text).parse()
