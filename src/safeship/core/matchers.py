"""Alertmanager's label matchers: `name="value"`, `!=`, `=~`, `!~`, parsed as Alertmanager does.

Routes, inhibition rules and silences (alerting/routing.py, inhibition.py, silences.py) and
incident definitions (config/incidents.py) select alerts with these. Alertmanager (0.27 on,
its default "fallback" mode) parses with its classic parser and, when that refuses the
input, with the newer UTF-8 parser (quoted label names, Go string escapes); where both
parse, the classic reading wins. Both are here. Regexes are RE2, anchored as `^(?:...)$`
(core/regex.py). An absent label matches as the empty string.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum

from safeship.core.errors import InvalidInput
from safeship.core.regex import Regex, RegexError, compile_anchored


class MatcherError(InvalidInput, ValueError):
    """A matcher that does not parse; the message says what was found."""


class Op(StrEnum):
    EQUAL = "="
    NOT_EQUAL = "!="
    REGEX = "=~"
    NOT_REGEX = "!~"


_OP_ORDER = {Op.EQUAL: 0, Op.NOT_EQUAL: 1, Op.REGEX: 2, Op.NOT_REGEX: 3}
_RESERVED = set("{}!=~,\\\"'`")


@dataclass(frozen=True)
class Matcher:
    name: str
    op: Op
    value: str
    regex: Regex | None = field(default=None, compare=False, repr=False)

    @classmethod
    def of(cls, name: str, op: Op | str, value: str) -> Matcher:
        """A matcher; a regex that RE2 refuses raises MatcherError."""
        kind = Op(op)
        regex = None
        if kind in (Op.REGEX, Op.NOT_REGEX):
            try:
                regex = compile_anchored(value)
            except RegexError as exc:
                raise MatcherError(str(exc)) from None
        return cls(name, kind, value, regex)

    def matches(self, value: str) -> bool:
        if self.op is Op.EQUAL:
            return value == self.value
        if self.op is Op.NOT_EQUAL:
            return value != self.value
        assert self.regex is not None
        found = self.regex.matches(value)
        return found if self.op is Op.REGEX else not found

    def matches_empty(self) -> bool:
        return self.matches("")

    def sort_key(self) -> tuple[str, str, int]:
        """Alertmanager's order (labels.Matchers.Less): name, value, then operator."""
        return (self.name, self.value, _OP_ORDER[self.op])

    def __str__(self) -> str:
        if any(_reserved(c) for c in self.name):
            return f"{go_quote(self.name)}{self.op}{go_quote(self.value)}"
        escaped = self.value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')
        return f'{self.name}{self.op}"{escaped}"'


def matches_all(matchers: Sequence[Matcher], labels: Mapping[str, str]) -> bool:
    """Every matcher matches; a label the alert lacks is the empty string."""
    return all(m.matches(labels.get(m.name, "")) for m in matchers)


def sort_matchers(matchers: Sequence[Matcher]) -> tuple[Matcher, ...]:
    return tuple(sorted(matchers, key=Matcher.sort_key))


def format_matchers(matchers: Sequence[Matcher]) -> str:
    """`{a="b",c=~"d"}`, as Alertmanager writes them into route and group keys."""
    return "{" + ",".join(str(m) for m in matchers) + "}"


def parse_matchers(text: str) -> list[Matcher]:
    """`a="b", c=~"d.*"` (braces optional) as Alertmanager's config and amtool read it."""
    try:
        return _classic_matchers(text)
    except MatcherError as classic:
        try:
            return _Utf8Parser(text).matchers()
        except MatcherError:
            raise classic from None


def parse_matcher(text: str) -> Matcher:
    """Exactly one matcher (a silence's `--matcher`, an API filter)."""
    if text.startswith("{") or text.endswith("}"):
        raise MatcherError(f"unexpected open or close brace: {text}")
    found = parse_matchers(text)
    if len(found) != 1:
        raise MatcherError(f"expected 1 matcher, found {len(found)}: {text}")
    return found[0]


# The classic parser (pkg/labels/parse.go).
_CLASSIC = re.compile(r"^\s*([a-zA-Z_:][a-zA-Z0-9_:]*)\s*(=~|=|!=|!~)\s*(.*?)\s*$", re.DOTALL)


def _classic_matchers(text: str) -> list[Matcher]:
    text = text.removeprefix("{").removesuffix("}")
    tokens: list[str] = []
    token: list[str] = []
    quoted = escaped = False
    for char in text:
        if char == "," and not quoted:
            tokens.append("".join(token))
            token = []
            continue
        if char == '"':
            quoted, escaped = (not quoted, False) if not escaped else (quoted, False)
        elif char == "\\":
            escaped = not escaped
        elif char != ",":
            escaped = False
        token.append(char)
    if last := "".join(token).strip():
        tokens.append(last)
    return [_classic_matcher(t) for t in tokens]


def _classic_matcher(text: str) -> Matcher:
    found = _CLASSIC.match(text)
    if found is None:
        raise MatcherError(f"bad matcher format: {text}")
    name, op, raw = found.groups()
    expect_quote = raw.startswith('"')
    body = raw[1:] if expect_quote else raw
    value: list[str] = []
    escaped = False
    for index, char in enumerate(body):
        last = index == len(body) - 1
        if escaped:
            escaped = False
            value.append({"n": "\n", '"': '"', "\\": "\\"}.get(char, "\\" + char))
        elif char == "\\":
            escaped = not last
            if last:
                value.append("\\")
        elif char == '"':
            if not expect_quote or not last:
                raise MatcherError(f"matcher value contains unescaped double quote: {raw}")
            expect_quote = False
        else:
            value.append(char)
    if expect_quote:
        raise MatcherError(f"matcher value contains unescaped double quote: {raw}")
    return Matcher.of(name, op, "".join(value))


# The UTF-8 parser (matcher/parse): tokens, then `{? matcher (, matcher)* ,? }?`.
def _reserved(char: str) -> bool:
    return char.isspace() or char in _RESERVED


_OPERATORS = ("!=", "!~", "=~", "=")
_Token = tuple[str, str]  # (kind, text): kind is one of { } , op quoted unquoted


class _Utf8Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.tokens = _tokens(text)
        self.pos = 0

    def peek(self) -> _Token | None:
        return self.tokens[self.pos] if self.pos < len(self.tokens) else None

    def take(self, *kinds: str, wanted: str) -> _Token:
        token = self.peek()
        if token is None or token[0] not in kinds:
            found = "end of input" if token is None else repr(token[1])
            raise MatcherError(f"{self.text}: unexpected {found}, expected {wanted}")
        self.pos += 1
        return token

    def matchers(self) -> list[Matcher]:
        found: list[Matcher] = []
        braced = self.peek() == ("{", "{")
        self.pos += braced
        while (token := self.peek()) is not None and token[0] in ("quoted", "unquoted"):
            found.append(self.matcher())
            if self.peek() is not None and self.peek() == (",", ","):
                self.pos += 1
                continue
            break
        if braced:
            self.take("}", wanted="a comma or close brace")
        rest = self.peek()
        if rest is not None:
            raise MatcherError(f"{self.text}: unexpected {rest[1]!r}, expected end of input")
        return found

    def matcher(self) -> Matcher:
        name = _unquote(self.take("quoted", "unquoted", wanted="label name"))
        op = self.take("op", wanted="an operator such as '=', '!=', '=~' or '!~'")[1]
        value = _unquote(self.take("quoted", "unquoted", wanted="label value"))
        return Matcher.of(name, op, value)


def _tokens(text: str) -> list[_Token]:
    out: list[_Token] = []
    i = 0
    while i < len(text):
        char = text[i]
        if char in "{},":
            out.append((char, char))
            i += 1
        elif char in "=!":
            op = next((o for o in _OPERATORS if text.startswith(o, i)), None)
            if op is None:
                raise MatcherError(f"{text}: '!' must be followed by '=' or '~'")
            out.append(("op", op))
            i += len(op)
        elif char == '"':
            end = _closing_quote(text, i)
            out.append(("quoted", text[i : end + 1]))
            i = end + 1
        elif char.isspace():
            i += 1
        elif not _reserved(char):
            start = i
            while i < len(text) and not _reserved(text[i]):
                i += 1
            out.append(("unquoted", text[start:i]))
        else:
            raise MatcherError(f"{text}: {char}: invalid input")
    return out


def _closing_quote(text: str, start: int) -> int:
    escaped = False
    for i in range(start + 1, len(text)):
        if escaped:
            escaped = False
        elif text[i] == "\\":
            escaped = True
        elif text[i] == '"':
            return i
    raise MatcherError(f'{text[start:]}: missing end "')


def _unquote(token: _Token) -> str:
    return go_unquote(token[1]) if token[0] == "quoted" else token[1]


_SIMPLE_ESCAPES = {
    "a": "\a",
    "b": "\b",
    "f": "\f",
    "n": "\n",
    "r": "\r",
    "t": "\t",
    "v": "\v",
    "\\": "\\",
    '"': '"',
}
_HEX_LENGTH = {"x": 2, "u": 4, "U": 8}


def go_unquote(quoted: str) -> str:
    """Go's strconv.Unquote of a double-quoted string."""
    body, out, i = quoted[1:-1], [], 0
    while i < len(body):
        char = body[i]
        if char == "\n" or char == '"':
            raise MatcherError(f"{quoted}: invalid input")
        if char != "\\":
            out.append(char)
            i += 1
            continue
        code = body[i + 1 : i + 2]
        if code in _SIMPLE_ESCAPES:
            out.append(_SIMPLE_ESCAPES[code])
            i += 2
        elif code in _HEX_LENGTH:
            digits = body[i + 2 : i + 2 + _HEX_LENGTH[code]]
            out.append(_code_point(quoted, digits, 16, _HEX_LENGTH[code]))
            i += 2 + _HEX_LENGTH[code]
        elif code in "01234567" and code:
            out.append(_code_point(quoted, body[i + 1 : i + 4], 8, 3))
            i += 4
        else:
            raise MatcherError(f"{quoted}: invalid input")
    return "".join(out)


def _code_point(quoted: str, digits: str, base: int, length: int) -> str:
    allowed = "0123456789abcdefABCDEF" if base == 16 else "01234567"
    if len(digits) != length or any(d not in allowed for d in digits):
        raise MatcherError(f"{quoted}: invalid input")
    value = int(digits, base)
    if value > 0x10FFFF or 0xD800 <= value <= 0xDFFF or (base == 8 and value > 255):
        raise MatcherError(f"{quoted}: invalid input")
    return chr(value)


def go_quote(text: str) -> str:
    """Go's strconv.Quote, for the printable text matchers hold."""
    out = ['"']
    for char in text:
        if char in ('"', "\\"):
            out.append("\\" + char)
        elif char in "\a\b\f\n\r\t\v":
            out.append("\\" + next(k for k, v in _SIMPLE_ESCAPES.items() if v == char))
        elif char.isprintable():
            out.append(char)
        elif ord(char) < 0x80:
            out.append(f"\\x{ord(char):02x}")
        elif ord(char) <= 0xFFFF:
            out.append(f"\\u{ord(char):04x}")
        else:
            out.append(f"\\U{ord(char):08x}")
    out.append('"')
    return "".join(out)
