"""Tokenizer for filter and order-by strings.

A hand-written scanner rather than regular expressions, so every error can name the exact
character where the input stopped making sense.
"""

from __future__ import annotations

import enum
import math
from dataclasses import dataclass

from tracelake.exceptions import QueryError

__all__ = ["Token", "TokenKind", "tokenize"]

# 64-bit signed range: SQLite refuses larger integers and PostgreSQL's BIGINT columns hold no more.
_INT_MIN = -(2**63)
_INT_MAX = 2**63 - 1
_OPERATOR_CHARS = frozenset("=!<>")
_OPERATORS = {"=": "=", "!=": "!=", "<>": "!=", "<": "<", "<=": "<=", ">": ">", ">=": ">="}
_QUOTES = frozenset("'\"")


class TokenKind(enum.Enum):
    """What a token is; keywords (AND, IN, …) are words the parser recognises by value."""

    WORD = "word"
    STRING = "string"
    NUMBER = "number"
    OPERATOR = "operator"
    LPAREN = "("
    RPAREN = ")"
    COMMA = ","
    END = "end of input"


@dataclass(frozen=True, slots=True)
class Token:
    """One token and where it sits in the source text.

    Attributes:
        kind: the token's kind.
        value: the decoded value: identifier parts for a WORD, the text of a STRING, an int or
            float for a NUMBER, the operator (with `<>` normalised to `!=`) for an OPERATOR.
        position: zero-based offset of the token's first character.
        end: offset just past the token's last character.
        quoted: for a WORD, which parts were written in backticks (those are never keywords).
    """

    kind: TokenKind
    value: tuple[str, ...] | str | int | float | None
    position: int
    end: int
    quoted: tuple[bool, ...] = ()

    def keyword(self) -> str | None:
        """Return the upper-cased word if this token could be a keyword (one bare part), else None."""
        if self.kind is TokenKind.WORD and isinstance(self.value, tuple) and self.quoted == (False,):
            return self.value[0].upper()
        return None


def _is_word_start(char: str) -> bool:
    return char.isalpha() or char == "_"


def _is_word_char(char: str) -> bool:
    return char.isalnum() or char == "_"


class _Scanner:
    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0

    def error(self, message: str, position: int) -> QueryError:
        return QueryError(message, position, self.text)

    def scan(self) -> list[Token]:
        tokens: list[Token] = []
        text = self.text
        while True:
            while self.pos < len(text) and text[self.pos].isspace():
                self.pos += 1
            if self.pos >= len(text):
                tokens.append(Token(TokenKind.END, None, len(text), len(text)))
                return tokens
            start = self.pos
            char = text[start]
            if char in "(),":
                self.pos += 1
                kind = {"(": TokenKind.LPAREN, ")": TokenKind.RPAREN, ",": TokenKind.COMMA}[char]
                tokens.append(Token(kind, char, start, self.pos))
            elif char in _QUOTES:
                tokens.append(self._string())
            elif self._starts_number(start):
                tokens.append(self._number())
            elif _is_word_start(char) or char == "`":
                tokens.append(self._word())
            elif char in _OPERATOR_CHARS:
                tokens.append(self._operator())
            else:
                raise self.error(f"unexpected character {char!r}", start)

    def _starts_number(self, position: int) -> bool:
        text = self.text
        if text[position] in "+-":
            position += 1
        if position < len(text) and text[position] == ".":
            position += 1
        return position < len(text) and text[position].isdigit()

    def _string(self) -> Token:
        text, start = self.text, self.pos
        quote = text[start]
        chars: list[str] = []
        pos = start + 1
        while pos < len(text):
            char = text[pos]
            if char == quote:
                # A doubled quote stands for one quote character, as in SQL.
                if pos + 1 < len(text) and text[pos + 1] == quote:
                    chars.append(quote)
                    pos += 2
                    continue
                self.pos = pos + 1
                return Token(TokenKind.STRING, "".join(chars), start, self.pos)
            if char == "\\" and pos + 1 < len(text) and text[pos + 1] in (quote, "\\"):
                # Only quotes and backslashes are escapes: `\%` and `\_` must reach LIKE intact.
                chars.append(text[pos + 1])
                pos += 2
                continue
            chars.append(char)
            pos += 1
        raise self.error(f"unterminated string: no closing {quote}", start)

    def _number(self) -> Token:
        text, start = self.text, self.pos
        pos = start
        if text[pos] in "+-":
            pos += 1
        is_float = False
        while pos < len(text) and text[pos].isdigit():
            pos += 1
        if pos < len(text) and text[pos] == ".":
            is_float = True
            pos += 1
            while pos < len(text) and text[pos].isdigit():
                pos += 1
        if pos < len(text) and text[pos] in "eE":
            exponent = pos + 1
            if exponent < len(text) and text[exponent] in "+-":
                exponent += 1
            if exponent < len(text) and text[exponent].isdigit():
                is_float = True
                pos = exponent
                while pos < len(text) and text[pos].isdigit():
                    pos += 1
        if pos < len(text) and (_is_word_char(text[pos]) or text[pos] == "."):
            end = pos
            while end < len(text) and (_is_word_char(text[end]) or text[end] == "."):
                end += 1
            raise self.error(f"invalid number {text[start:end]!r}", start)
        literal = text[start:pos]
        self.pos = pos
        if is_float:
            number = float(literal)
            if not math.isfinite(number):
                raise self.error(f"number {literal} is out of range", start)
            return Token(TokenKind.NUMBER, number, start, pos)
        integer = int(literal)
        if not _INT_MIN <= integer <= _INT_MAX:
            raise self.error(f"integer {literal} does not fit in 64 bits", start)
        return Token(TokenKind.NUMBER, integer, start, pos)

    def _word(self) -> Token:
        text, start = self.text, self.pos
        parts: list[str] = []
        quoted: list[bool] = []
        pos = start
        while True:
            if pos < len(text) and text[pos] == "`":
                part, pos = self._backticked(pos)
                parts.append(part)
                quoted.append(True)
            elif pos < len(text) and (_is_word_char(text[pos]) if parts else _is_word_start(text[pos])):
                part_start = pos
                while pos < len(text) and _is_word_char(text[pos]):
                    pos += 1
                parts.append(text[part_start:pos])
                quoted.append(False)
            else:
                raise self.error("expected a name after '.'", pos)
            if pos < len(text) and text[pos] == ".":
                pos += 1
                continue
            break
        self.pos = pos
        return Token(TokenKind.WORD, tuple(parts), start, pos, tuple(quoted))

    def _backticked(self, start: int) -> tuple[str, int]:
        text = self.text
        chars: list[str] = []
        pos = start + 1
        while pos < len(text):
            if text[pos] == "`":
                if pos + 1 < len(text) and text[pos + 1] == "`":
                    chars.append("`")
                    pos += 2
                    continue
                if not chars:
                    raise self.error("empty name in backticks", start)
                return "".join(chars), pos + 1
            chars.append(text[pos])
            pos += 1
        raise self.error("unterminated name: no closing `", start)

    def _operator(self) -> Token:
        text, start = self.text, self.pos
        two = text[start : start + 2]
        if two in _OPERATORS:
            self.pos = start + 2
            return Token(TokenKind.OPERATOR, _OPERATORS[two], start, self.pos)
        one = text[start]
        if one in _OPERATORS:
            self.pos = start + 1
            return Token(TokenKind.OPERATOR, one, start, self.pos)
        raise self.error(f"unknown operator {one!r}; did you mean '!='?", start)


def tokenize(text: str) -> list[Token]:
    """Split a filter or order-by string into tokens, always ending with an END token.

    Args:
        text: the string as the user wrote it.

    Returns:
        The tokens in order.

    Raises:
        QueryError: on an unterminated string or name, a malformed number or a stray character.
    """
    return _Scanner(text).scan()
