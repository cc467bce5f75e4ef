from __future__ import annotations

import pytest

from tracelake.exceptions import QueryError
from tracelake.query import And, Comparison, Expression, Or, parse_filter, unparse
from tracelake.query.fields import ATTRIBUTE_FIELDS, SPAN_FIELDS, FieldKind, FieldSpec, Operator
from tracelake.query.grammar import MAX_CONDITIONS, MAX_DEPTH, MAX_FILTER_CHARS, MAX_LIST_VALUES


def parse(text: str) -> Expression:
    expression = parse_filter(text)
    assert expression is not None
    return expression


def comparison(text: str) -> Comparison:
    expression = parse(text)
    assert isinstance(expression, Comparison)
    return expression


@pytest.mark.parametrize("text", [None, "", "   ", "\n\t"])
def test_no_filter(text: str | None) -> None:
    assert parse_filter(text) is None


@pytest.mark.parametrize(
    ("text", "op", "value"),
    [
        ("timestamp_ms = 5", Operator.EQ, 5),
        ("timestamp_ms != 5", Operator.NE, 5),
        ("timestamp_ms <> 5", Operator.NE, 5),
        ("timestamp_ms < 5", Operator.LT, 5),
        ("timestamp_ms <= 5", Operator.LE, 5),
        ("timestamp_ms > 5.5", Operator.GT, 5.5),
        ("timestamp_ms >= -5", Operator.GE, -5),
        ("timestamp_ms IN (1, 2.5)", Operator.IN, (1, 2.5)),
        ("timestamp_ms NOT IN (1)", Operator.NOT_IN, (1,)),
        ("name = 'a'", Operator.EQ, "a"),
        ("name != 'a'", Operator.NE, "a"),
        ("name LIKE 'a%'", Operator.LIKE, "a%"),
        ("name ILIKE '%A_'", Operator.ILIKE, "%A_"),
        ("name IN ('a', \"b\")", Operator.IN, ("a", "b")),
        ("name NOT IN ('a')", Operator.NOT_IN, ("a",)),
        ("name IS NULL", Operator.IS_NULL, None),
        ("name IS NOT NULL", Operator.IS_NOT_NULL, None),
        ("tags.env IS NULL", Operator.IS_NULL, None),
        ("metadata.env IS NOT NULL", Operator.IS_NOT_NULL, None),
        ("execution_time_ms IS NULL", Operator.IS_NULL, None),
    ],
)
def test_every_operator(text: str, op: Operator, value: object) -> None:
    parsed = comparison(text)
    assert parsed.op is op
    assert parsed.value == value


@pytest.mark.parametrize(
    "text",
    [
        "name like 'a%' and name ilike 'b' or name not in ('c') and name is not null",
        "NAME LIKE 'a%' AND NAME ILIKE 'b' OR NAME NOT IN ('c') AND NAME IS NOT NULL",
        "Name Like 'a%' And name iLike 'b' Or name Not In ('c') aNd name Is Not Null",
    ],
)
def test_keywords_and_field_names_are_case_insensitive(text: str) -> None:
    assert unparse(parse(text)) == "name LIKE 'a%' AND name ILIKE 'b' OR name NOT IN ('c') AND name IS NOT NULL"


def test_and_binds_tighter_than_or() -> None:
    a, b, c = (comparison(f"name = '{letter}'") for letter in "abc")
    assert parse("name = 'a' OR name = 'b' AND name = 'c'") == Or((a, And((b, c))))
    assert parse("name = 'a' AND name = 'b' OR name = 'c'") == Or((And((a, b)), c))


def test_parentheses_override_precedence() -> None:
    a, b, c = (comparison(f"name = '{letter}'") for letter in "abc")
    assert parse("(name = 'a' OR name = 'b') AND name = 'c'") == And((Or((a, b)), c))
    assert parse("name = 'a' AND (name = 'b' OR name = 'c')") == And((a, Or((b, c))))
    assert parse("((name = 'a'))") == a


def test_same_operator_groups_flatten() -> None:
    expression = parse("(name = 'a' AND name = 'b') AND (name = 'c' AND name = 'd')")
    assert isinstance(expression, And)
    assert len(expression.operands) == 4
    expression = parse("name = 'a' OR (name = 'b' OR name = 'c')")
    assert isinstance(expression, Or)
    assert len(expression.operands) == 3


def test_positions_are_recorded_but_not_compared() -> None:
    first, second = comparison("name = 'a'"), comparison("   name   =   'a'")
    assert first == second
    assert (first.position, first.value_position) == (0, 7)
    assert (second.position, second.value_position) == (3, 14)
    assert first.field.position == 0


@pytest.mark.parametrize("spec", ATTRIBUTE_FIELDS, ids=lambda spec: spec.name)
def test_every_attribute_alias_and_prefix_resolves(spec: FieldSpec) -> None:
    value = "1" if spec.value_type.value == "number" else "'OK'"
    for name in (spec.name, *spec.aliases):
        for prefix in ("", "trace.", "attributes.", "attribute.", "TRACE."):
            parsed = comparison(f"{prefix}{name} = {value}")
            assert parsed.field.kind is FieldKind.ATTRIBUTE
            assert parsed.field.spec is spec


@pytest.mark.parametrize("spec", SPAN_FIELDS, ids=lambda spec: spec.name)
def test_span_fields(spec: FieldSpec) -> None:
    for name in (spec.name, *spec.aliases):
        parsed = comparison(f"span.{name} = 'OK'")
        assert parsed.field.kind is FieldKind.SPAN
        assert parsed.field.spec is spec


@pytest.mark.parametrize(
    ("text", "kind", "key"),
    [
        ("tags.env = 'x'", FieldKind.TAG, "env"),
        ("tag.env = 'x'", FieldKind.TAG, "env"),
        ("TAGS.Env = 'x'", FieldKind.TAG, "Env"),  # the prefix is case-insensitive, the key is not
        ("metadata.env = 'x'", FieldKind.METADATA, "env"),
        ("request_metadata.env = 'x'", FieldKind.METADATA, "env"),
        ("metadata.`mlflow.trace.session` = 'x'", FieldKind.METADATA, "mlflow.trace.session"),
        ("metadata.mlflow.trace.session = 'x'", FieldKind.METADATA, "mlflow.trace.session"),
        ("tags.`my key` = 'x'", FieldKind.TAG, "my key"),
        ("tags.`it``s` = 'x'", FieldKind.TAG, "it`s"),
        ("tags.`a-b`.c = 'x'", FieldKind.TAG, "a-b.c"),
        ("tags.AND = 'x'", FieldKind.TAG, "AND"),
    ],
)
def test_tag_and_metadata_keys(text: str, kind: FieldKind, key: str) -> None:
    parsed = comparison(text)
    assert (parsed.field.kind, parsed.field.key) == (kind, key)


def test_enum_values_are_normalised_to_upper_case() -> None:
    assert comparison("status = 'error'").value == "ERROR"
    assert comparison("status IN ('ok', 'In_Progress')").value == ("OK", "IN_PROGRESS")
    assert comparison("span.status = 'unset'").value == "UNSET"


@pytest.mark.parametrize(
    "text",
    [
        "status = 'ERROR'",
        "name = 'it''s' AND tags.env = 'prod'",
        "(status = 'OK' OR status = 'ERROR') AND timestamp_ms > 1700000000000",
        "metadata.`mlflow.trace.session` = 's' OR tags.`my key` != 'x'",
        "tags.`a``b` IS NULL AND span.type IN ('LLM', 'TOOL')",
        "total_cost >= 0.5 AND execution_time_ms NOT IN (1, 2)",
        "name LIKE 'a\\%b' OR name ILIKE '%\\_%'",
        "(name = 'a' OR name = 'b') AND (name = 'c' OR name = 'd') OR name = 'e'",
    ],
)
def test_unparse_round_trips(text: str) -> None:
    expression = parse(text)
    assert parse(unparse(expression)) == expression
    assert unparse(parse(unparse(expression))) == unparse(expression)


def test_unparse_is_canonical() -> None:
    assert (
        unparse(parse("trace.state='ok' and (tag.env=\"prod\" or timestamp>5)"))
        == "status = 'OK' AND (tags.env = 'prod' OR timestamp_ms > 5)"
    )


@pytest.mark.parametrize(
    ("text", "position", "message"),
    [
        # missing pieces
        ("name =", 6, "missing value after ="),
        ("name = 'a' AND", 14, "expected a field name, found the end of the filter"),
        ("name", 4, "expected an operator"),
        ("name 'a'", 5, "expected an operator"),
        ("name IN", 7, "expected '(' to start the IN list"),
        ("name IN ()", 9, "expected a value, found ')'"),
        ("name IN ('a',)", 13, "expected a value, found ')'"),
        ("name IN ('a' 'b')", 13, "expected ',' or ')' in the list"),
        ("name NOT LIKE 'a'", 9, "expected IN after NOT"),
        ("name IS 'a'", 8, "expected NULL or NOT NULL after IS"),
        ("name IS NOT 'a'", 12, "expected NULL after IS NOT"),
        ("name = NULL", 7, "IS NULL or IS NOT NULL"),
        ("name = abc", 7, "expected a value (quote strings)"),
        # parentheses
        ("(name = 'a'", 0, "unbalanced '('"),
        ("name = 'a' AND ((name = 'b')", 15, "unbalanced '('"),
        ("name = 'a')", 10, "unbalanced ')'"),
        ("()", 1, "expected a field name, found ')'"),
        ("(name = 'a' name = 'b')", 12, "expected AND, OR or ')'"),
        ("name IN ('a', 'b'", 8, "the list is not closed"),
        # trailing garbage
        ("name = 'a' 'b'", 11, "expected AND, OR or the end of the filter, found \"'b'\""),
        ("name = 'a' extra", 11, "found 'extra'"),
        ("name = 'a' AND AND name = 'b'", 15, "expected a field name, found 'AND'"),
        # unknown names (with suggestions)
        ("nmae = 'a'", 0, "unknown field 'nmae' (did you mean 'name'?)"),
        ("x AND name = 'a'", 0, "unknown field 'x'"),
        ("timestmp > 5", 0, "did you mean 'timestamp_ms'"),
        ("trace.stauts = 'OK'", 0, "unknown trace attribute 'trace.stauts' (did you mean 'status'?)"),
        ("tgas.env = 'a'", 0, "'tgas' is not a known prefix (did you mean 'tags'"),
        ("span.colour = 'a'", 0, "unknown span field 'span.colour'; span fields are span.name"),
        ("span.attributes.x = 'a'", 0, "unknown span field"),
        ("tags = 'a'", 4, "'tags' needs a name after it"),
        ("'name' = 'a'", 0, "names are not quoted"),
        ("name = 'a' AND (5 = 5)", 16, "expected a field name, found '5'"),
        # types and operators
        ("timestamp_ms LIKE '1%'", 13, "LIKE does not apply to timestamp_ms (a number)"),
        ("timestamp_ms > '5'", 15, "timestamp_ms is a number: write '5' without quotes"),
        ("timestamp_ms IN (1, '2')", 20, "timestamp_ms is a number"),
        ("timestamp_ms IS NULL", 13, "IS NULL does not apply to timestamp_ms"),
        ("name > 'a'", 5, "> does not apply to name (a string)"),
        ("name = 5", 7, "name is a string: quote the value, e.g. '5'"),
        ("tags.n = 5", 9, "tags.n is a string"),
        ("status LIKE 'O%'", 7, "LIKE does not apply to status (a fixed set of values)"),
        ("status = 'DONE'", 9, "status is one of OK, ERROR, IN_PROGRESS, not 'DONE'"),
        ("status IN ('OK', 'nope')", 17, "status is one of"),
        ("span.status = 'FAILED'", 14, "span.status is one of UNSET, OK, ERROR"),
        ("trace_id IS NULL", 9, "IS NULL does not apply to trace_id"),
        ("name LIKE 'abc\\\\'", 15, "LIKE pattern ends with an escape character"),
    ],
)
def test_errors_name_the_problem_and_position(text: str, position: int, message: str) -> None:
    with pytest.raises(QueryError) as caught:
        parse_filter(text)
    assert message in str(caught.value)
    assert caught.value.position == position
    assert caught.value.text == text
    assert f"at position {position}" in str(caught.value)


def test_depth_limit() -> None:
    nested = "(" * MAX_DEPTH + "name = 'a'" + ")" * MAX_DEPTH
    assert parse_filter(nested) == comparison("name = 'a'")
    too_deep = "(" * (MAX_DEPTH + 1) + "name = 'a'" + ")" * (MAX_DEPTH + 1)
    with pytest.raises(QueryError, match="nested deeper") as caught:
        parse_filter(too_deep)
    assert caught.value.position == MAX_DEPTH
    with pytest.raises(QueryError, match="nested deeper"):
        parse_filter("(" * 100_000)


def test_condition_limit() -> None:
    allowed = " OR ".join(f"name = '{i}'" for i in range(MAX_CONDITIONS))
    assert isinstance(parse_filter(allowed), Or)
    with pytest.raises(QueryError, match=f"more than {MAX_CONDITIONS} conditions"):
        parse_filter(allowed + " OR name = 'x'")


def test_list_limit() -> None:
    values = ", ".join(str(i) for i in range(MAX_LIST_VALUES))
    parsed = comparison(f"timestamp_ms IN ({values})").value
    assert isinstance(parsed, tuple)
    assert len(parsed) == MAX_LIST_VALUES
    with pytest.raises(QueryError, match=f"more than {MAX_LIST_VALUES} values"):
        parse_filter(f"timestamp_ms IN ({values}, 1)")


def test_length_limit() -> None:
    padded = "name = 'a'" + " " * (MAX_FILTER_CHARS - 10)
    assert parse_filter(padded) == comparison("name = 'a'")
    with pytest.raises(QueryError, match="longer than") as caught:
        parse_filter(padded + " ")
    assert caught.value.position == MAX_FILTER_CHARS
    assert len(str(caught.value)) < 100
