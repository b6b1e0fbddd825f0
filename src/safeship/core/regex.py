"""Label regexes with Prometheus's semantics: RE2 syntax, anchored as `^(?:...)$`.

Prometheus compiles matcher and label_replace regexes with Go's regexp (RE2 syntax), so
Python's `re` answers differently (inline flags mid-pattern, `\\Z`, possessive `++`, `.`
and newlines). RE2 is slow to call from Python compared with `re`, so each compiled regex
remembers its answers per value, and plain literals and literal alternations (the common
`a|b|c` matchers) never reach RE2. Compiled regexes are cached by pattern.
"""

from __future__ import annotations

import functools
import re
from typing import Any

import re2
from re2 import _re2

from safeship.core.errors import QueryError

_OPTIONS = re2.Options()
_OPTIONS.log_errors = False
_UNANCHORED: Any = re2._Anchor.UNANCHORED
_NO_MATCH = (-1, -1)
_LITERAL = re.compile(r"[A-Za-z0-9_\-:/ ,;=@%&!~\"'<>]*")
_MEMO_LIMIT = 10_000
_NAMED_ANGLE = re.compile(r"(?:^|[^\\])(?:\\\\)*\(\?<")

# RE2's messages -> Go's regexp/syntax ErrorCode strings (what Prometheus prints).
_GO_CODES = (
    ("bad repetition operator", "invalid nested repetition operator"),
    ("missing )", "missing closing )"),
    ("missing ]", "missing closing ]"),
    ("invalid perl operator", "invalid or unsupported Perl syntax"),
    ("no argument for repetition operator", "missing argument to repetition operator"),
    ("invalid repetition size", "invalid repeat count"),
    ("unexpected )", "unexpected )"),
    ("invalid escape sequence", "invalid escape sequence"),
    ("invalid character class range", "invalid character class range"),
    ("invalid character class", "invalid character class"),
    ("trailing \\", "trailing backslash at end of expression"),
    ("invalid named capture group", "invalid named capture"),
    ("invalid UTF-8", "invalid UTF-8"),
    ("pattern too large", "expression too large"),
)


class RegexError(QueryError, ValueError):
    """A pattern RE2 (and so Prometheus) rejects; the message is Go's wording."""


class Regex:
    """One anchored pattern: `matches` for selectors, `groups` for label_replace."""

    __slots__ = ("_alternatives", "_memo", "_names", "_re", "pattern")

    def __init__(self, pattern: str) -> None:
        self.pattern = pattern
        if _NAMED_ANGLE.search(pattern):  # Go's regexp (before Go 1.22) has only (?P<name>
            raise RegexError("error parsing regexp: invalid or unsupported Perl syntax: `(?<`")
        self._re = _re2.RE2(f"^(?:{pattern})$".encode(), _OPTIONS)
        if not self._re.ok():
            raise RegexError(_go_message(self._re.error().decode(errors="replace")))
        self._alternatives: frozenset[str] | None = None
        if all(_LITERAL.fullmatch(part) for part in pattern.split("|")):
            self._alternatives = frozenset(pattern.split("|"))
        self._memo: dict[str, bool] = {}
        self._names = {name.decode(): i for name, i in self._re.NamedCapturingGroups()}

    def matches(self, value: str) -> bool:
        if self._alternatives is not None:
            return value in self._alternatives
        found = self._memo.get(value)
        if found is None:
            found = self.groups(value) is not None
            if len(self._memo) >= _MEMO_LIMIT:
                self._memo.clear()
            self._memo[value] = found
        return found

    def groups(self, value: str) -> list[str | None] | None:
        """The whole match and every capture group (None when unset), or None: no match."""
        text = value.encode()
        spans = self._re.Match(_UNANCHORED, text, 0, len(text))
        if spans[0] == _NO_MATCH:
            return None
        return [None if s == _NO_MATCH else text[s[0] : s[1]].decode() for s in spans]

    def group_index(self) -> dict[str, int]:
        return self._names


@functools.lru_cache(maxsize=4096)
def compile_anchored(pattern: str) -> Regex:
    """The cached anchored regex of `pattern`; RegexError when RE2 rejects it."""
    return Regex(pattern)


def _go_message(error: str) -> str:
    code, _, arg = error.partition(": ")
    for re2_code, go_code in _GO_CODES:
        if code == re2_code:
            code = go_code
            break
    return f"error parsing regexp: {code}: `{arg}`"
