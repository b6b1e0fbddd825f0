"""The condition language of custom metrics: what it accepts, what it refuses, and where."""

from __future__ import annotations

import pytest

from safeship.config.condition import ConditionError, parse_condition


@pytest.mark.parametrize(
    ("text", "result", "expected"),
    [
        ("result < 0.99", 0.5, True),
        ("result < 0.99", 0.99, False),
        ("result >= 500", 500, True),
        ("result > 0.05 and result < 1", 0.5, True),
        ("result > 0.05 and result < 1", 1.5, False),
        ("result < 0.05 or result > 1", 1.5, True),
        ("not result > 1", 0.5, True),
        ("!(result > 1 || result < 0)", 0.5, True),
        ("result > 0 && result != 3", 3, False),
        ("(result) == 2", 2, True),
        ("((result < 1))", 2, False),
        ("-result > -1", 0.5, True),
        ("result <= 1e-3", 0.0005, True),
        ("0.5 < result", 0.7, True),
        ("result > .5 and (result < 1 or result == 7)", 7, True),
        ("not not result == 1", 1, True),
    ],
)
def test_condition_evaluates_like_the_expression_reads(
    text: str, result: float, expected: bool
) -> None:
    assert parse_condition(text).holds(result) is expected


@pytest.mark.parametrize(
    ("text", "column", "found"),
    [
        ("result <", 9, "the end"),
        ("result", 7, "the end"),
        ("foo < 1", 1, "'foo'"),
        ("result < 1 and", 15, "the end"),
        ("result < (1", 12, "the end"),
        ("1 < 2 3", 7, "'3'"),
        ("result @ 1", 8, "'@'"),
        ("", 1, "nothing"),
        ("__import__ < 1", 1, "'__import__'"),
        ("open('x') < 1", 6, '"\'"'),
    ],
)
def test_bad_condition_names_the_column_and_what_was_found(
    text: str, column: int, found: str
) -> None:
    with pytest.raises(ConditionError) as caught:
        parse_condition(text)
    assert caught.value.column + 1 == column
    assert f"column {column}: found {found}" in str(caught.value)
