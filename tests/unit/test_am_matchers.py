"""Alertmanager's matchers: cases from its pkg/labels/parse_test.go and matcher/parse tests."""

from __future__ import annotations

import pytest

from safeship.core.matchers import (
    Matcher,
    MatcherError,
    Op,
    format_matchers,
    matches_all,
    parse_matcher,
    parse_matchers,
    sort_matchers,
)


def _m(name: str, op: str, value: str) -> tuple[str, str, str]:
    return (name, op, value)


CLASSIC = [
    ("{}", []),
    ("{foo='}", [_m("foo", "=", "'")]),
    ("{foo=`}", [_m("foo", "=", "`")]),
    ('{foo=\\"}', [_m("foo", "=", '"')]),
    ("{foo=bar}", [_m("foo", "=", "bar")]),
    ('{foo="bar"}', [_m("foo", "=", "bar")]),
    ("{foo=~bar.*}", [_m("foo", "=~", "bar.*")]),
    ('{foo!~"bar.*"}', [_m("foo", "!~", "bar.*")]),
    ('{foo="bar", baz!="quux"}', [_m("foo", "=", "bar"), _m("baz", "!=", "quux")]),
    ('{foo="bar,quux", job="job1"}', [_m("foo", "=", "bar,quux"), _m("job", "=", "job1")]),
    ('{foo = "bar", dings != "bums", }', [_m("foo", "=", "bar"), _m("dings", "!=", "bums")]),
    ("foo=bar,dings!=bums", [_m("foo", "=", "bar"), _m("dings", "!=", "bums")]),
    ('{quote="She said: \\"Hi!\\""}', [_m("quote", "=", 'She said: "Hi!"')]),
    ("tricky=~~~", [_m("tricky", "=~", "~~")]),
    ('trickier==\\\\=\\=\\"', [_m("trickier", "=", '=\\=\\="')]),
    (
        'contains_quote != "\\"" , contains_comma !~ "foo,bar" , ',
        [_m("contains_quote", "!=", '"'), _m("contains_comma", "!~", "foo,bar")],
    ),
    ("{foo=bar}}", [_m("foo", "=", "bar}")]),
    ("{foo=,bar=}}", [_m("foo", "=", ""), _m("bar", "=", "}")]),
    ("{foo=bar\\t}", [_m("foo", "=", "bar\\t")]),
    ("{foo=bar\\n}", [_m("foo", "=", "bar\n")]),
    ("{foo=bar\\}", [_m("foo", "=", "bar\\")]),
    ("job=", [_m("job", "=", "")]),
    ("{foo=}b", [_m("foo", "=", "}b")]),
    # both parsers read it, differently: Alertmanager keeps the classic reading
    ('foo="tab\\there"', [_m("foo", "=", "tab\\there")]),
]


@pytest.mark.parametrize(("text", "expected"), CLASSIC)
def test_classic_syntax_parses_as_alertmanager_does(
    text: str, expected: list[tuple[str, str, str]]
) -> None:
    assert [(m.name, m.op.value, m.value) for m in parse_matchers(text)] == expected


UTF8_ONLY = [
    ('"foo.bar"="baz"', [_m("foo.bar", "=", "baz")]),
    ('{"service name"=~"a|b", "🙂"!="x"}', [_m("service name", "=~", "a|b"), _m("🙂", "!=", "x")]),
    ("foo.bar=baz", [_m("foo.bar", "=", "baz")]),
]


@pytest.mark.parametrize(("text", "expected"), UTF8_ONLY)
def test_utf8_syntax_is_the_fallback(text: str, expected: list[tuple[str, str, str]]) -> None:
    assert [(m.name, m.op.value, m.value) for m in parse_matchers(text)] == expected


BAD = [
    (",", "bad matcher format"),
    ("{,}", "bad matcher format"),
    ('job="value', "unescaped double quote"),
    ('job=value"', "unescaped double quote"),
    ('contains_unescaped_quote = foo"bar', "unescaped double quote"),
    ('{foo=~"invalid[regexp"}', "missing closing ]"),
    ('"{foo=\\"bar"}', "bad matcher format"),
    ("{{foo=", "bad matcher format"),
    ("a=b,,c=d", "bad matcher format"),
    ("foo", "bad matcher format"),
]


@pytest.mark.parametrize(("text", "reason"), BAD)
def test_bad_matchers_are_refused_with_alertmanagers_reason(text: str, reason: str) -> None:
    with pytest.raises(MatcherError, match=reason.replace("[", r"\[")):
        parse_matchers(text)


def test_one_matcher_for_a_silence() -> None:
    assert parse_matcher('severity="page"') == Matcher.of("severity", Op.EQUAL, "page")
    for text in ('{a="b"}', 'a="b",c="d"'):
        with pytest.raises(MatcherError):
            parse_matcher(text)


@pytest.mark.parametrize(
    ("matcher", "labels", "expected"),
    [
        ('a="b"', {"a": "b"}, True),
        ('a="b"', {}, False),
        ('a=""', {}, True),  # an absent label is the empty string
        ('a!="b"', {}, True),
        ('a=~"b|c"', {"a": "c"}, True),
        ('a=~"b"', {"a": "xbx"}, False),  # anchored
        ('a!~"b.*"', {"a": "bcd"}, False),
        ('a=~"(?i)B"', {"a": "b"}, True),  # RE2 flags
    ],
)
def test_matching(matcher: str, labels: dict[str, str], expected: bool) -> None:
    assert matches_all([parse_matcher(matcher)], labels) is expected


def test_written_sorted_as_in_route_keys() -> None:
    found = sort_matchers(parse_matchers('b="1", a=~"x", a="x", "c d"="\\n"'))
    assert format_matchers(found) == '{a="x",a=~"x",b="1","c d"="\\n"}'
    # a matcher written out reads back the same
    for m in found:
        assert parse_matcher(str(m)) == m
