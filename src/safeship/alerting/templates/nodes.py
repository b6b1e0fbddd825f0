"""The template tree: nodes as Go's text/template/parse has them, and its literals.

parse.py builds these; execute.py walks them. Positions are byte offsets into the template
text (Go's Pos), and `str(node)` prints a node back the way Go does, because execution
errors quote it ("executing \"NAME\" at <humanize $value>: ..."). Number and string
literals are decoded here with Go's rules (strconv.Unquote, parse.newNumber).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field

_ESCAPES = {"a": "\a", "b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t", "v": "\v"}


@dataclass
class Node:
    pos: int


@dataclass
class Text(Node):
    text: str


@dataclass
class Literal(Node):
    """A constant operand: a string, number, bool, nil or dot; `source` is how it was written."""

    source: str
    value: object = None
    number: Number | None = None

    def __str__(self) -> str:
        return self.source


@dataclass(frozen=True)
class Number:
    """A number constant as Go's parse.NumberNode keeps it: every type it can be."""

    as_int: int | None
    as_float: float | None
    prefers_float: bool  # written with . e or p (and not hex/char): an ideal float
    as_complex: complex | None = None  # 1i, 1+2i: an ideal complex, whatever else it is


@dataclass
class Field(Node):
    """`.A.B` (variable None) or `$x.A.B`; Go's FieldNode and VariableNode."""

    variable: str | None
    idents: list[str]

    def __str__(self) -> str:
        if self.variable is None:
            return "".join("." + i for i in self.idents)
        return ".".join([self.variable, *self.idents])


@dataclass
class Identifier(Node):
    name: str

    def __str__(self) -> str:
        return self.name


@dataclass
class Chain(Node):
    """`(pipeline).A.B`: fields of a computed value."""

    node: Node
    fields: list[str]

    def __str__(self) -> str:
        inner = f"({self.node})" if isinstance(self.node, Pipe) else str(self.node)
        return inner + "".join("." + f for f in self.fields)


@dataclass
class Command(Node):
    args: list[Node]

    def __str__(self) -> str:
        return " ".join(f"({a})" if isinstance(a, Pipe) else str(a) for a in self.args)


@dataclass
class Pipe(Node):
    decl: list[str]
    is_assign: bool
    cmds: list[Command]

    def __str__(self) -> str:
        head = ", ".join(self.decl) + (" = " if self.is_assign else " := ") if self.decl else ""
        return head + " | ".join(str(c) for c in self.cmds)


@dataclass
class Action(Node):
    pipe: Pipe

    def __str__(self) -> str:
        return "{{" + str(self.pipe) + "}}"


@dataclass
class Branch(Node):
    """`if`, `with` or `range` with its body and optional else."""

    kind: str
    pipe: Pipe
    body: list[Node]
    orelse: list[Node] | None

    def __str__(self) -> str:
        return "{{" + self.kind + " " + str(self.pipe) + "}}"


@dataclass
class Include(Node):
    """`{{template "name" pipeline}}`."""

    name: str
    pipe: Pipe | None

    def __str__(self) -> str:
        return "{{template " + go_quote(self.name) + (f" {self.pipe}" if self.pipe else "") + "}}"


@dataclass
class Jump(Node):
    kind: str  # break | continue

    def __str__(self) -> str:
        return "{{" + self.kind + "}}"


@dataclass
class Template:
    """A parsed template: its body and the templates it defines (`define`, `block`)."""

    name: str
    text: str
    body: list[Node]
    defined: dict[str, list[Node]] = field(default_factory=dict)

    def where(self, node: Node) -> str:
        """Go's ErrorContext location: NAME:LINE:COLUMN (0-based byte column)."""
        before = self.text.encode()[: node.pos].decode(errors="replace")
        line = before.count("\n") + 1
        column = node.pos if line == 1 else len(before) - before.rfind("\n") - 1
        return f"{self.name}:{line}:{column}"


def go_quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def unquote(source: str) -> str:
    """strconv.Unquote of a Go string literal (interpreted or raw); ValueError if invalid."""
    if source.startswith("`"):
        return source[1:-1].replace("\r", "")
    body, out, i = source[1:-1], [], 0
    while i < len(body):
        char = body[i]
        if char != "\\":
            out.append(char)
            i += 1
            continue
        code = body[i + 1 : i + 2]
        if code in _ESCAPES:
            out.append(_ESCAPES[code])
            i += 2
        elif code in ("\\", source[0]):
            out.append(code)
            i += 2
        else:
            size = {"x": 2, "u": 4, "U": 8}.get(code, 3 if code.isdigit() else 0)
            digits = body[i + (1 if code.isdigit() else 2) :][:size]
            base = 8 if code.isdigit() else 16
            if not size or len(digits) < size or not re.fullmatch(r"[0-9a-fA-F]+", digits):
                raise ValueError("invalid syntax")
            out.append(chr(int(digits, base)))
            i += (1 if code.isdigit() else 2) + size
    return "".join(out)


def number(text: str) -> Number:
    """Every type a number constant can take, as parse.newNumber decides it."""
    if text.startswith("'"):
        char = _first_char(text[1:-1])
        return Number(ord(char), float(ord(char)), prefers_float=False)
    if text.endswith("i"):
        return _complex(text)
    whole = _go_int(text)
    if whole is not None and -(2**63) <= whole < 2**64:  # an int64 or a uint64
        as_int = whole if whole < 2**63 else None
        hexint = text.lstrip("+-")[:2].lower() == "0x"
        prefers = not hexint and any(c in text for c in ".eEpP")
        return Number(as_int, float(whole), prefers)
    as_float = _go_float_literal(text)
    if as_float is None:
        raise ValueError(f"illegal number syntax: {go_quote(text)}")
    if not any(c in text for c in ".eEpP"):
        raise ValueError(f"integer overflow: {go_quote(text)}")
    as_int = int(as_float) if as_float.is_integer() and abs(as_float) < 2**63 else None
    return Number(as_int, as_float, prefers_float=True)


def _first_char(body: str) -> str:
    """strconv.UnquoteChar of a character constant's body: exactly one (escaped) rune."""
    if not body or body[0] == "'":
        raise ValueError("invalid syntax")
    if body[0] != "\\":
        rest, char = body[1:], body[0]
    else:
        code = body[1:2]
        size = {"x": 2, "u": 4, "U": 8}.get(code, 3 if code.isdigit() else 0)
        start = 1 if code.isdigit() else 2
        if code in _ESCAPES or code in "\\'":
            char, rest = _ESCAPES.get(code, code), body[2:]
        elif size and re.fullmatch(r"[0-9a-fA-F]+", body[start : start + size] or "-"):
            digits = body[start : start + size]
            if len(digits) < size:
                raise ValueError("invalid syntax")
            char, rest = chr(int(digits, 8 if code.isdigit() else 16)), body[start + size :]
        else:
            raise ValueError("invalid syntax")
    if rest:
        raise ValueError(f"malformed character constant: '{body}'")
    return char


def _complex(text: str) -> Number:
    """1i or 1+2i: a complex constant, also a float (and an int) when its imaginary part is 0."""
    split = max(
        (i for i, c in enumerate(text) if c in "+-" and i and text[i - 1] not in "eEpP"),
        default=0,
    )
    real = _go_float_literal(text[:split]) if split else 0.0
    imag = _go_float_literal(text[split:-1])
    if real is None or imag is None:
        raise ValueError(f"illegal number syntax: {go_quote(text)}")
    if imag != 0:
        return Number(None, None, prefers_float=False, as_complex=complex(real, imag))
    as_int = int(real) if real.is_integer() and abs(real) < 2**63 else None
    return Number(as_int, real, prefers_float=False, as_complex=complex(real, 0.0))


def _go_int(text: str) -> int | None:
    body = text.lstrip("+-")
    try:
        octal = re.fullmatch(r"0[0-7_]+", body)  # Go reads 017 as octal; Python refuses it
        value = int(body.replace("_", ""), 8) if octal else int(body, 0)
    except ValueError:
        return None
    return -value if text.startswith("-") else value


def _go_float_literal(text: str) -> float | None:
    body = text.replace("_", "")
    try:
        if "x" in body.lower():
            return float.fromhex(body) if "p" in body.lower() else None
        number = float(body)
        return None if math.isinf(number) else number  # Go: out of range
    except (ValueError, OverflowError):
        return None
