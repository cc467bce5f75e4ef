from __future__ import annotations

import pytest

from tracelake.exceptions import QueryError
from tracelake.query.lexer import TokenKind, tokenize


def kinds_and_values(text: str) -> list[tuple[TokenKind, object]]:
    return [(token.kind, token.value) for token in tokenize(text)]


def test_simple_comparison_tokens_and_positions() -> None:
    tokens = tokenize("status = 'OK'")
    assert [(t.kind, t.value, t.position, t.end) for t in tokens] == [
        (TokenKind.WORD, ("status",), 0, 6),
        (TokenKind.OPERATOR, "=", 7, 8),
        (TokenKind.STRING, "OK", 9, 13),
        (TokenKind.END, None, 13, 13),
    ]


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("'it''s'", "it's"),
        ('"say ""hi"""', 'say "hi"'),
        (r"'it\'s'", "it's"),
        (r'"a\"b"', 'a"b'),
        (r"'back\\slash'", "back\\slash"),
        (r"'100\%'", "100\\%"),  # LIKE escapes survive for the pattern
        (r"'a\_b\n'", "a\\_b\\n"),
        ("'double \" inside single'", 'double " inside single'),
        ("''", ""),
        ("'ünïcødé ✓'", "ünïcødé ✓"),
    ],
)
def test_string_escapes(text: str, value: str) -> None:
    assert kinds_and_values(text)[0] == (TokenKind.STRING, value)


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("0", 0),
        ("42", 42),
        ("-7", -7),
        ("+7", 7),
        ("1.5", 1.5),
        ("-0.25", -0.25),
        (".5", 0.5),
        ("1e3", 1000.0),
        ("2.5E-2", 0.025),
        ("9223372036854775807", 2**63 - 1),
        ("-9223372036854775808", -(2**63)),
    ],
)
def test_numbers(text: str, value: float) -> None:
    kind, parsed = kinds_and_values(text)[0]
    assert kind is TokenKind.NUMBER
    assert parsed == value
    assert type(parsed) is type(value)


@pytest.mark.parametrize(
    ("text", "parts", "quoted"),
    [
        ("tags.env", ("tags", "env"), (False, False)),
        ("metadata.`mlflow.trace.session`", ("metadata", "mlflow.trace.session"), (False, True)),
        ("tags.`my key`", ("tags", "my key"), (False, True)),
        ("tags.`a``b`", ("tags", "a`b"), (False, True)),
        ("`status`", ("status",), (True,)),
        ("tags.2fa", ("tags", "2fa"), (False, False)),
        ("a.b.c", ("a", "b", "c"), (False, False, False)),
    ],
)
def test_words_and_backticks(text: str, parts: tuple[str, ...], quoted: tuple[bool, ...]) -> None:
    token = tokenize(text)[0]
    assert token.kind is TokenKind.WORD
    assert token.value == parts
    assert token.quoted == quoted
    assert token.end == len(text)


def test_keyword_only_for_single_bare_words() -> None:
    and_word, quoted_and, dotted = tokenize("and `and` tags.and")[:3]
    assert and_word.keyword() == "AND"
    assert quoted_and.keyword() is None
    assert dotted.keyword() is None


@pytest.mark.parametrize(("text", "operator"), [("=", "="), ("!=", "!="), ("<>", "!="), ("<", "<"), ("<=", "<=")])
def test_operators(text: str, operator: str) -> None:
    assert kinds_and_values(text)[0] == (TokenKind.OPERATOR, operator)


def test_punctuation() -> None:
    assert [kind for kind, _ in kinds_and_values("(,)")] == [
        TokenKind.LPAREN,
        TokenKind.COMMA,
        TokenKind.RPAREN,
        TokenKind.END,
    ]


@pytest.mark.parametrize(
    ("text", "position", "message"),
    [
        ("name = 'abc", 7, "unterminated string"),
        ("name = \"abc'", 7, "unterminated string"),
        ("name = 'ab\\'", 7, "unterminated string"),
        ("tags.`abc = 'x'", 5, "unterminated name"),
        ("tags.`` = 'x'", 5, "empty name in backticks"),
        ("tags. = 'x'", 5, "expected a name after '.'"),
        ("x = 12abc", 4, "invalid number '12abc'"),
        ("x = 1.2.3 AND", 4, "invalid number '1.2.3'"),
        ("x = 99999999999999999999", 4, "does not fit in 64 bits"),
        ("x = 1e999", 4, "out of range"),
        ("name = 'x'; DROP", 10, "unexpected character ';'"),
        ("x ! 1", 2, "unknown operator '!'"),
        ("x = @", 4, "unexpected character '@'"),
        ("x = -", 4, "unexpected character '-'"),
    ],
)
def test_lexer_errors_point_at_the_problem(text: str, position: int, message: str) -> None:
    with pytest.raises(QueryError, match=message) as caught:
        tokenize(text)
    assert caught.value.position == position
    assert caught.value.text == text
