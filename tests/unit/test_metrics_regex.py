"""RE2 label regexes: Prometheus's anchoring and flags, Go's error words, and the shortcuts
(literal alternations, per-value memo) answering exactly what RE2 answers."""

from __future__ import annotations

import pytest

from safeship.core.regex import Regex, RegexError, compile_anchored
from safeship.metrics.index import Matcher


@pytest.mark.parametrize(
    ("pattern", "value", "matches"),
    [
        ("((?i)PRO).*", "prod", True),
        ("prod", "xprod", False),  # anchored at both ends
        ("prod|", "", True),
        ("a.b", "a\nb", False),  # no dot-all, as Go's default flags
        ("(?s)a.b", "a\nb", True),
        (r"\Qa.b\E", "a.b", True),
        (r"\Qa.b\E", "axb", False),
        (r"\pL+", "ünï", True),
        ("api|web", "api", True),
        ("api|web", "ap", False),
        ("a-b|c d", "c d", True),
    ],
)
def test_matches_like_prometheus(pattern: str, value: str, matches: bool) -> None:
    assert compile_anchored(pattern).matches(value) is matches
    assert (Regex(pattern).groups(value) is not None) is matches  # RE2 itself, no shortcut


def test_literal_alternation_shortcut_agrees_with_re2() -> None:
    shortcut = compile_anchored("api|web-1|")
    for value in ("api", "web-1", "", "apiweb", "web", "API"):
        via_re2 = shortcut.groups(value) is not None
        assert shortcut.matches(value) is via_re2


@pytest.mark.parametrize(
    ("pattern", "message"),
    [
        ("x++", "error parsing regexp: invalid nested repetition operator: `++`"),
        ("(", "error parsing regexp: missing closing ): `^(?:()$`"),
        ("(?<n>x)", "error parsing regexp: invalid or unsupported Perl syntax: `(?<`"),
        ("[z-a]", "error parsing regexp: invalid character class range: `z-a`"),
    ],
)
def test_bad_patterns_raise_go_messages(pattern: str, message: str) -> None:
    with pytest.raises(RegexError) as caught:
        compile_anchored(pattern)
    assert str(caught.value) == message


def test_compiled_patterns_are_cached_and_groups_expand() -> None:
    assert compile_anchored("(a)(?P<n>b)?") is compile_anchored("(a)(?P<n>b)?")
    found = compile_anchored("(a)(?P<n>b)?").groups("a")
    assert found == ["a", "a", None]
    assert compile_anchored("(a)(?P<n>b)?").group_index() == {"n": 2}


def test_matcher_uses_re2() -> None:
    assert Matcher("job", "=~", "(?i)prod").matches("PROD")
    assert not Matcher("job", "!~", "(?i)prod").matches("PROD")
