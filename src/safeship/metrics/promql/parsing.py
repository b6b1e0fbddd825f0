"""From query text to promql-parser's AST, the way Prometheus 2.42 would parse it.

promql-parser follows later Prometheus releases: it knows `holt_winters` only by its later
name and checks regexes with Rust's engine. This module renames the call, refuses the later
name, and compiles matcher regexes with RE2 so that a regex Prometheus refuses is a parse
error here too. Errors point into the query text like Prometheus's ("1:5: parse error").
"""

from __future__ import annotations

import ast
import re
from typing import Any

import promql_parser as pp

from safeship.core.labels import NAME, Labels
from safeship.core.regex import RegexError, compile_anchored
from safeship.metrics.index import Matcher, name_matchers
from safeship.metrics.promql.calls import HOLT_WINTERS
from safeship.metrics.promql.errors import LocatedError, PromQLError, PromQLSyntaxError

_MATCH_OPS = {"Equal": "=", "NotEqual": "!=", "Re": "=~", "NotRe": "!~"}


def parse(expr: str) -> Any:
    """The promql-parser AST of `expr`, or a PromQLError saying where it went wrong.

    promql-parser knows Prometheus 2.42's `holt_winters` only by its later name, so calls
    are renamed before parsing (and the later name, unknown to 2.42, is refused)."""
    text = expr
    if HOLT_WINTERS in expr or "holt_winters" in expr:
        text = _rename_holt_winters(expr)
    while True:
        try:
            return pp.parse(text)
        except (ValueError, RuntimeError) as exc:
            message = str(exc).replace(HOLT_WINTERS, "holt_winters")
            if message.startswith(_ILLEGAL_REGEX):
                text = _stand_in(expr, text, message[len(_ILLEGAL_REGEX) :])
                continue
            message = _UNKNOWN_FUNCTION.sub(r'unknown function with name "\1"', message)
            position = _guess_position(expr, message)
            raise PromQLSyntaxError(message, expr=expr, position=position) from None


_ILLEGAL_REGEX = "illegal regex for "
_UNKNOWN_FUNCTION = re.compile(r"unknown function with name '(\w+)'")
_STAND_IN = "safeshipre2_"
_STRING = re.compile(r"\"(?:[^\"\\]|\\.)*\"|'(?:[^'\\]|\\.)*'|`[^`]*`")


def _stand_in(expr: str, text: str, pattern: str) -> str:
    """promql-parser checks matcher regexes with Rust's engine, which refuses some RE2
    syntax (\\Q...\\E, ...). When RE2 accepts the pattern, its string literal is replaced by
    a stand-in that spells the pattern in hex, and `selector_matchers` spells it back; when
    RE2 refuses it too, that is Prometheus's parse error."""
    try:
        compile_anchored(pattern)
    except RegexError:
        raise _regex_error(expr, pattern) from None
    for literal in _STRING.finditer(text):
        if _unquote(literal.group(0)) == pattern:
            stand_in = f'"{_STAND_IN}{pattern.encode().hex()}"'
            return text[: literal.start()] + stand_in + text[literal.end() :]
    raise PromQLSyntaxError(f"{_ILLEGAL_REGEX}{pattern}", expr=expr, position=len(expr))


def _unquote(literal: str) -> str | None:
    if literal.startswith("`"):
        return literal[1:-1]
    try:
        value = ast.literal_eval(literal)
    except (ValueError, SyntaxError):
        return None
    return value if isinstance(value, str) else None


def _spelled_back(value: str) -> str:
    if value.startswith(_STAND_IN):
        return bytes.fromhex(value[len(_STAND_IN) :]).decode()
    return value


def _regex_error(expr: str, pattern: str) -> PromQLError:
    """A matcher regex RE2 refuses: say why in Go's words (RE2's diagnosis), pointing at
    the matcher's label name as Prometheus does."""
    try:
        compile_anchored(pattern)
        message = f"{_ILLEGAL_REGEX}{pattern}"
    except RegexError as exc:
        message = str(exc)
    at = expr.find(pattern)
    label = _LABEL_BEFORE.search(expr, 0, max(at, 0))
    return PromQLSyntaxError(message, expr=expr, position=label.start(1) if label else max(at, 0))


_LABEL_BEFORE = re.compile(r"([A-Za-z_][A-Za-z0-9_]*)\s*[=!]~\s*[\"'`]$")


def _guess_position(expr: str, message: str) -> int | None:
    """promql-parser reports no offsets; point at what the message names, else the end."""
    quoted = re.search(r"'([^']+)'|\"([^\"]+)\"", message)
    if quoted:
        token = quoted.group(1) or quoted.group(2)
        at = expr.find(token)
        if at >= 0:
            return at
    if "unclosed left parenthesis" in message:
        return len(expr)  # Prometheus notices at the end of the input
    if "parenthesis" in message and "(" in expr:
        return expr.rfind("(")
    return len(expr)


_CALL_NAMES = re.compile(
    r"(\"(?:[^\"\\]|\\.)*\"|'(?:[^'\\]|\\.)*'|`[^`]*`|#[^\n]*)"
    rf"|\b(holt_winters|{HOLT_WINTERS})(?=\s*\()"
)


def _rename_holt_winters(expr: str) -> str:
    """`holt_winters(` -> promql-parser's name; strings and comments are left alone."""

    def one(m: re.Match[str]) -> str:
        if m.group(2) == HOLT_WINTERS:
            message = f'unknown function with name "{HOLT_WINTERS}"'
            raise PromQLSyntaxError(message, expr=expr, position=m.start(2))
        return HOLT_WINTERS if m.group(2) else m.group(0)

    return _CALL_NAMES.sub(one, expr)


def located(exc: LocatedError, expr: str) -> PromQLError:
    """A parse-time error found during evaluation, pointing at its token in `expr`."""
    at = expr.find(exc.token)
    return PromQLSyntaxError(exc.message, expr=expr, position=max(at, 0))


def unparen(node: Any) -> Any:
    while type(node).__name__ == "ParenExpr":
        node = node.expr
    return node


def matchers_of(selector: str) -> tuple[Matcher, ...]:
    """The matchers of a series selector string like `up{job="api"}` (for /series)."""
    node = parse(selector)
    if type(node).__name__ != "VectorSelector":
        raise PromQLSyntaxError(
            f"expected a series selector, found {selector!r}", expr=selector, position=0
        )
    try:
        return selector_matchers(node)
    except LocatedError as exc:
        raise located(exc, selector) from None


def selector_matchers(vs: Any) -> tuple[Matcher, ...]:
    found = [
        Matcher(m.name, op, _spelled_back(m.value) if op in ("=~", "!~") else m.value)
        for m in vs.matchers.matchers
        for op in (_MATCH_OPS[str(m.op).split(".")[-1]],)
    ]
    for m in found:
        if m.op in ("=~", "!~"):
            try:
                m.regex  # noqa: B018 -- compiled (and cached) now, so a bad one is a parse error
            except RegexError as exc:
                raise LocatedError(str(exc), token=m.name) from None
    return name_matchers(vs.name, found)


def absent_labels(matchers: tuple[Matcher, ...]) -> Labels:
    """createLabelsForAbsentFunction: an equality matcher sets its label the first time;
    any other matcher on that label (or a repeated one) removes it again, in order."""
    pairs: dict[str, str] = {}
    seen: set[str] = set()
    for m in matchers:
        if m.name == NAME:
            continue
        if m.op == "=" and m.name not in seen:
            pairs[m.name] = m.value
            seen.add(m.name)
        else:
            pairs.pop(m.name, None)
    return tuple(sorted(pairs.items()))
