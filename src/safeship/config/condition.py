"""A tiny, safe language for metric conditions such as `result < 0.99 and result > 0`.

A custom-metric analysis (config) carries `failIf` / `successIf` strings; the threshold judge
parses them here once and evaluates them per measured value. There is no `eval`: the grammar is

    expr       := or
    or         := and (("or" | "||") and)*
    and        := not (("and" | "&&") not)*
    not        := ("not" | "!") not | comparison | "(" expr ")"
    comparison := term ("<" | "<=" | ">" | ">=" | "==" | "!=") term
    term       := number | "result" | "-" term | "(" term ")"

so a condition is always true or false, and a typo is reported with its column.
"""

from __future__ import annotations

import operator
import re
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache

from safeship.core.errors import InvalidInput

_TOKEN = re.compile(
    r"\s*(?:(?P<num>(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)|(?P<op><=|>=|==|!=|&&|\|\||[<>!()\-])"
    r"|(?P<word>[A-Za-z_][A-Za-z_0-9]*))"
)
_COMPARE: dict[str, Callable[[float, float], bool]] = {
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
    "==": operator.eq,
    "!=": operator.ne,
}
_ALIASES = {"&&": "and", "||": "or", "!": "not"}

Term = Callable[[float], float]
Predicate = Callable[[float], bool]


class ConditionError(InvalidInput):
    """A condition that cannot be parsed; says where and what was expected."""

    def __init__(self, text: str, column: int, found: str, expected: str) -> None:
        self.column = column
        super().__init__(
            f"condition {text!r}, column {column + 1}: found {found}, expected {expected}"
        )


@dataclass(frozen=True)
class _Token:
    kind: str  # "num", "op" or "word"
    text: str
    column: int


def _tokenize(text: str) -> list[_Token]:
    tokens: list[_Token] = []
    position = 0
    while text[position:].strip():
        match = _TOKEN.match(text, position)
        if match is None or match.lastgroup is None:
            column = len(text) - len(text[position:].lstrip())
            raise ConditionError(
                text, column, repr(text[column]), "a number, 'result' or an operator"
            )
        kind = match.lastgroup
        value = match.group(kind)
        tokens.append(_Token(kind, _ALIASES.get(value, value), match.start(kind)))
        position = match.end()
    return tokens


class _Parser:
    """Recursive descent over the grammar in the module docstring, building closures."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.tokens = _tokenize(text)
        self.index = 0

    def peek(self) -> str | None:
        return self.tokens[self.index].text if self.index < len(self.tokens) else None

    def take(self) -> _Token:
        token = self.tokens[self.index]
        self.index += 1
        return token

    def fail(self, expected: str) -> ConditionError:
        if self.index >= len(self.tokens):
            return ConditionError(self.text, len(self.text), "the end", expected)
        token = self.tokens[self.index]
        return ConditionError(self.text, token.column, repr(token.text), expected)

    def parse(self) -> Predicate:
        predicate = self.disjunction()
        if self.peek() is not None:
            raise self.fail("'and', 'or' or the end")
        return predicate

    def disjunction(self) -> Predicate:
        parts = [self.conjunction()]
        while self.peek() == "or":
            self.take()
            parts.append(self.conjunction())
        return parts[0] if len(parts) == 1 else (lambda r: any(p(r) for p in parts))

    def conjunction(self) -> Predicate:
        parts = [self.negation()]
        while self.peek() == "and":
            self.take()
            parts.append(self.negation())
        return parts[0] if len(parts) == 1 else (lambda r: all(p(r) for p in parts))

    def negation(self) -> Predicate:
        if self.peek() == "not":
            self.take()
            inner = self.negation()
            return lambda r: not inner(r)
        if self.peek() == "(" and self._parenthesised_predicate():
            self.take()
            inner = self.disjunction()
            self.expect(")")
            return inner
        return self.comparison()

    def _parenthesised_predicate(self) -> bool:
        """`(` opens a predicate unless it only wraps a term, as in `(result) < 1`."""
        saved = self.index
        try:
            self.take()
            self.term()
            return self.peek() in _COMPARE
        except (ConditionError, IndexError):
            return True
        finally:
            self.index = saved

    def comparison(self) -> Predicate:
        left = self.term()
        symbol = self.peek()
        if symbol not in _COMPARE:
            raise self.fail("a comparison (<, <=, >, >=, ==, !=)")
        self.take()
        right = self.term()
        compare = _COMPARE[symbol]
        return lambda r: compare(left(r), right(r))

    def term(self) -> Term:
        if self.index >= len(self.tokens):
            raise self.fail("a number, 'result' or '('")
        token = self.take()
        if token.kind == "num":
            number = float(token.text)
            return lambda _r: number
        if token.text == "result":
            return lambda r: r
        if token.text == "-":
            inner = self.term()
            return lambda r: -inner(r)
        if token.text == "(":
            inner = self.term()
            self.expect(")")
            return inner
        self.index -= 1
        raise self.fail("a number, 'result' or '('")

    def expect(self, symbol: str) -> None:
        if self.peek() != symbol:
            raise self.fail(repr(symbol))
        self.take()


@dataclass(frozen=True)
class Condition:
    """A parsed condition; `holds(value)` evaluates it with `result` bound to the value."""

    text: str
    _predicate: Predicate

    def holds(self, result: float) -> bool:
        return self._predicate(result)


@lru_cache(maxsize=256)
def parse_condition(text: str) -> Condition:
    """Parse `text` once (cached: the planner evaluates the same conditions every tick)."""
    if not text.strip():
        raise ConditionError(text, 0, "nothing", "a condition such as 'result < 0.99'")
    return Condition(text, _Parser(text).parse())
