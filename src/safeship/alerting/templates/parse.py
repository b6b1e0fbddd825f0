"""Go text/template source → a tree of nodes, with Go's grammar, positions and messages.

First step of templating: `parse(text, name, functions)` lexes `{{ }}` actions (trim markers
`{{-`/`-}}`, comments) and parses them by recursive descent the way Go's text/template/parse
does, so a template Prometheus refuses is refused here with the same words
("template: NAME:LINE: function \"x\" not defined"). Node positions are byte offsets into
the text; `str(node)` prints a node back as Go does, for execution errors (execute.py).
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Collection
from dataclasses import dataclass, field

from safeship.core.errors import TemplateError

KEYWORDS = frozenset(
    ["block", "break", "continue", "define", "else", "end", "if", "range", "template", "with"]
)
_SPACE = " \t\r\n"
_WORD = re.compile(r"\w*", re.UNICODE)
_NUMBER = re.compile(
    r"[+-]?(?:0[xX][0-9a-fA-F_]*(?:\.[0-9a-fA-F_]*)?(?:[pP][+-]?[0-9_]+)?"
    r"|0[bB][01_]*|0[oO][0-7_]*|[0-9_]*(?:\.[0-9_]*)?(?:[eE][+-]?[0-9_]+)?)i?"
)
_ESCAPES = {"a": "\a", "b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t", "v": "\v"}


# -- nodes -----------------------------------------------------------------------------------
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
        return "{{template " + _quote(self.name) + (f" {self.pipe}" if self.pipe else "") + "}}"


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


def _quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


# -- lexing ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class Token:
    kind: str  # text, open, close, space, word, field, var, string, raw, char, number, bool,
    # pipe, lparen, rparen, declare, assign, comma, dot, nil, keyword, eof
    value: str
    pos: int  # byte offset
    line: int


class _Lexer:
    def __init__(self, text: str, fail: Callable[[int, str], TemplateError]) -> None:
        self.text, self.fail = text, fail
        self.i = 0
        self.tokens: list[Token] = []
        self.trim_next = False

    def emit(self, kind: str, start: int, end: int) -> None:
        value = self.text[start:end]
        pos = len(self.text[:start].encode())
        self.tokens.append(Token(kind, value, pos, self.text.count("\n", 0, start) + 1))

    def run(self) -> list[Token]:
        while self.i < len(self.text):
            self.lex_text()
        self.emit("eof", len(self.text), len(self.text))
        return self.tokens

    def lex_text(self) -> None:
        start = self.i
        if self.trim_next:
            while start < len(self.text) and self.text[start] in _SPACE:
                start += 1
            self.trim_next = False
        found = self.text.find("{{", start)
        end = len(self.text) if found < 0 else found
        text_end = end
        trim = found >= 0 and self.text.startswith("-", found + 2)
        trim = trim and found + 3 < len(self.text) and self.text[found + 3] in _SPACE
        if trim:
            while text_end > start and self.text[text_end - 1] in _SPACE:
                text_end -= 1
        if text_end > start:
            self.emit("text", start, text_end)
        self.i = end
        if found >= 0:
            self.lex_action(found, trim)

    def lex_action(self, start: int, trim: bool) -> None:
        self.i = start + (4 if trim else 2)
        if self.text.startswith("/*", self.i):
            self.lex_comment(start)
            return
        self.emit("open", start, start + 2)
        depth = 0
        while True:
            if self.i >= len(self.text):
                raise self.fail(self.line_at(start), "unclosed action")
            if self.at_close():
                if depth > 0:
                    raise self.fail(self.line_at(start), "unclosed left paren")
                return
            depth = self.lex_one(depth)

    def line_at(self, offset: int) -> int:
        return self.text.count("\n", 0, offset) + 1

    def at_close(self) -> bool:
        if self.text.startswith(" -}}", self.i) or self.text[self.i :].startswith(
            tuple(c + "-}}" for c in _SPACE)
        ):
            self.emit("close", self.i + 2, self.i + 4)
            self.i += 4
            self.trim_next = True
            return True
        if self.text.startswith("}}", self.i):
            self.emit("close", self.i, self.i + 2)
            self.i += 2
            return True
        return False

    def lex_comment(self, start: int) -> None:
        end = self.text.find("*/", self.i + 2)
        if end < 0:
            raise self.fail(self.line_at(start), "unclosed comment")
        self.i = end + 2
        if self.text.startswith("}}", self.i):
            self.i += 2
        elif self.text[self.i : self.i + 1] in tuple(_SPACE) and self.text.startswith(
            "-}}", self.i + 1
        ):
            self.i += 4
            self.trim_next = True
        else:
            raise self.fail(self.line_at(start), "comment ends before closing delimiter")

    def lex_one(self, depth: int) -> int:
        text, i = self.text, self.i
        char = text[i]
        simple = {"|": "pipe", "(": "lparen", ")": "rparen", ",": "comma", "=": "assign"}
        if char in _SPACE:
            end = i
            while end < len(text) and text[end] in _SPACE and not self.closes_at(end):
                end += 1
            self.emit("space", i, max(end, i + 1))
            self.i = max(end, i + 1)
        elif text.startswith(":=", i):
            self.emit("declare", i, i + 2)
            self.i = i + 2
        elif char in simple:
            self.emit(simple[char], i, i + 1)
            self.i = i + 1
            depth += {"(": 1, ")": -1}.get(char, 0)
        elif char in "\"`'":
            self.lex_quote(char)
        elif char in "+-" or char.isdigit() or (char == "." and text[i + 1 : i + 2].isdigit()):
            self.lex_number()
        elif char in ".$":
            end = _WORD.match(text, i + 1).end()  # type: ignore[union-attr]
            if char == "." and end == i + 1:
                self.emit("dot", i, i + 1)
            else:
                self.emit("field" if char == "." else "var", i, end)
            self.i = end
            self.check_terminator()
        elif char.isalnum() or char == "_":
            self.lex_word()
        elif char.isascii() and char.isprintable():
            self.emit("char_item", i, i + 1)  # Go's itemChar: the parser refuses it in context
            self.i = i + 1
        else:
            raise self.fail(self.line_at(i), f"unrecognized character in action: {_char(char)}")
        return depth

    def closes_at(self, offset: int) -> bool:
        return self.text.startswith(("}}", " -}}"), offset) or (
            self.text[offset] in _SPACE and self.text.startswith("-}}", offset + 1)
        )

    def check_terminator(self) -> None:
        rest = self.text[self.i : self.i + 1]
        if rest and not (rest in _SPACE + ".,|:()" or self.text.startswith("}}", self.i)):
            raise self.fail(self.line_at(self.i), f"bad character {_char(rest)}")

    def lex_word(self) -> None:
        end = _WORD.match(self.text, self.i).end()  # type: ignore[union-attr]
        word = self.text[self.i : end]
        kind = "keyword" if word in KEYWORDS else "word"
        kind = "bool" if word in ("true", "false") else "nil" if word == "nil" else kind
        self.emit(kind, self.i, end)
        self.i = end
        self.check_terminator()

    def lex_number(self) -> None:
        found = _NUMBER.match(self.text, self.i)
        end = found.end() if found else self.i
        if end == self.i or (end < len(self.text) and self.text[end].isalnum()):
            bad = self.text[self.i : end + 1]  # Go stops one character past the number
            raise self.fail(self.line_at(self.i), f"bad number syntax: {_go_quote(bad)}")
        self.emit("number", self.i, end)
        self.i = end

    def lex_quote(self, quote: str) -> None:
        i = self.i + 1
        names = {'"': "quoted string", "`": "raw quoted string", "'": "character constant"}
        while True:
            if i >= len(self.text) or (quote != "`" and self.text[i] == "\n"):
                raise self.fail(self.line_at(self.i), f"unterminated {names[quote]}")
            if quote != "`" and self.text[i] == "\\":
                i += 2
                continue
            if self.text[i] == quote:
                break
            i += 1
        kind = {'"': "string", "`": "raw", "'": "char"}[quote]
        self.emit(kind, self.i, i + 1)
        self.i = i + 1


def _char(char: str) -> str:
    """Go's %#U of a rune: U+0026 '&'."""
    return f"U+{ord(char):04X} '{char}'" if char.isprintable() else f"U+{ord(char):04X}"


def _go_quote(text: str) -> str:
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
        value = unquote('"' + text[1:-1].replace('"', '\\"') + '"')
        if len(value) != 1:
            raise ValueError(f"malformed character constant: {text}")
        return Number(ord(value), float(ord(value)), prefers_float=False)
    if text.endswith("i"):
        raise ValueError(f"illegal number syntax: {_go_quote(text)}")
    whole = _go_int(text)
    if whole is not None and -(2**63) <= whole < 2**64:  # an int64 or a uint64
        as_int = whole if whole < 2**63 else None
        hexint = text.lstrip("+-")[:2].lower() == "0x"
        prefers = not hexint and any(c in text for c in ".eEpP")
        return Number(as_int, float(whole), prefers)
    as_float = _go_float_literal(text)
    if as_float is None:
        raise ValueError(f"illegal number syntax: {_go_quote(text)}")
    if not any(c in text for c in ".eEpP"):
        raise ValueError(f"integer overflow: {_go_quote(text)}")
    as_int = int(as_float) if as_float.is_integer() and abs(as_float) < 2**63 else None
    return Number(as_int, as_float, prefers_float=True)


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


# -- parsing ---------------------------------------------------------------------------------
class Parser:
    """Recursive descent over the tokens, following Go's parse.Tree method by method."""

    def __init__(self, text: str, name: str, functions: Collection[str]) -> None:
        self.text, self.name, self.functions = text, name, functions
        self.tokens = _Lexer(text, self.error_at_line).run()
        self.at = 0
        self.vars = ["$"]
        self.range_depth = 0
        self.defined: dict[str, list[Node]] = {}

    def error_at_line(self, line: int, message: str) -> TemplateError:
        return TemplateError(f"template: {self.name}:{line}: {message}")

    def error(self, message: str) -> TemplateError:
        return self.error_at_line(self.tokens[max(self.at - 1, 0)].line, message)

    def next(self) -> Token:
        token = self.tokens[self.at]
        self.at = min(self.at + 1, len(self.tokens) - 1)
        return token

    def peek(self) -> Token:
        return self.tokens[self.at]

    def next_non_space(self) -> Token:
        token = self.next()
        while token.kind == "space":
            token = self.next()
        return token

    def peek_non_space(self) -> Token:
        while self.tokens[self.at].kind == "space":
            self.at += 1
        return self.tokens[self.at]

    def unexpected(self, token: Token, context: str) -> TemplateError:
        if token.kind == "eof":
            return self.error(f"unexpected EOF in {context}")
        return self.error(f"unexpected {_describe(token)} in {context}")

    def expect(self, kind: str, context: str) -> Token:
        token = self.next_non_space()
        if token.kind != kind:
            raise self.unexpected(token, context)
        return token

    # template := (text | action)*
    def parse(self) -> Template:
        body: list[Node] = []
        while self.peek().kind != "eof":
            if self.peek().kind == "open" and self.defines():
                continue
            node, stop = self.text_or_action()
            if stop is not None:
                raise self.error("unexpected {{" + stop.split()[0] + "}}")
            if node is not None:
                body.append(node)
        return Template(self.name, self.text, body, self.defined)

    def defines(self) -> bool:
        """`{{define "name"}}...{{end}}` at top level; True when one was consumed."""
        mark = self.at
        self.next()
        token = self.next_non_space()
        if token.kind != "keyword" or token.value != "define":
            self.at = mark
            return False
        name = self.template_name("define clause")
        self.expect("close", "define clause")
        saved, self.vars = self.vars, ["$"]
        body, stop = self.item_list()
        self.vars = saved
        if stop != "end":
            raise self.error(f"unexpected {{{{{stop}}}}} in define clause")
        self.defined[name] = body
        return True

    def item_list(self) -> tuple[list[Node], str]:
        """Nodes up to `{{end}}` or `{{else}}`; returns which one stopped it."""
        nodes: list[Node] = []
        while True:
            if self.peek_non_space().kind == "eof":
                raise self.error("unexpected EOF")
            node, stop = self.text_or_action()
            if stop is not None:
                return nodes, stop
            if node is not None:
                nodes.append(node)

    def text_or_action(self) -> tuple[Node | None, str | None]:
        token = self.next()
        if token.kind == "text":
            return Text(token.pos, token.value), None
        if token.kind == "open":
            return self.action()
        raise self.unexpected(token, "input")

    def action(self) -> tuple[Node | None, str | None]:
        token = self.next_non_space()
        if token.kind == "keyword":
            return self.keyword(token)
        self.at -= 1
        start = self.peek_non_space()
        pipe = self.pipeline("command", start.pos)
        return Action(start.pos, pipe), None

    def keyword(self, token: Token) -> tuple[Node | None, str | None]:
        word = token.value
        if word in ("if", "with", "range"):
            return self.control(word, token.pos), None
        if word == "end":
            self.expect("close", "end")
            return None, "end"
        if word == "else":
            return self.else_clause()
        if word == "template":
            return self.include(token.pos), None
        if word == "block":
            return self.block(token.pos), None
        if word in ("break", "continue"):
            if self.range_depth == 0:
                raise self.error(f"{{{{{word}}}}} outside {{{{range}}}}")
            self.expect("close", word)
            return Jump(token.pos, word), None
        raise self.unexpected(token, "command")

    def else_clause(self) -> tuple[Node | None, str | None]:
        token = self.peek_non_space()
        if token.kind == "keyword" and token.value == "if":
            return None, "else if"
        self.expect("close", "else")
        return None, "else"

    def control(self, kind: str, pos: int) -> Node:
        mark = len(self.vars)
        pipe = self.pipeline(kind, self.peek_non_space().pos)
        self.range_depth += kind == "range"
        body, stop = self.item_list()
        self.range_depth -= kind == "range"
        orelse: list[Node] | None = None
        if stop == "else if":
            if kind != "if":
                raise self.error("unexpected <if> in input")  # Go 1.19: else if only in if
            self.next_non_space()
            orelse = [self.control("if", self.tokens[self.at - 1].pos)]
        elif stop == "else":
            orelse, stop = self.item_list()
            if stop != "end":
                raise self.error(f"expected end; found {{{{{stop}}}}}")
        del self.vars[mark:]
        return Branch(pos, kind, pipe, body, orelse)

    def template_name(self, context: str) -> str:
        token = self.next_non_space()
        if token.kind not in ("string", "raw"):
            raise self.unexpected(token, context)
        try:
            return unquote(token.value)
        except ValueError as exc:
            raise self.error(str(exc)) from None

    def include(self, pos: int) -> Node:
        name = self.template_name("template clause")
        pos = self.tokens[self.at - 1].pos  # Go places a template node at its name
        pipe = None
        if self.peek_non_space().kind != "close":
            pipe = self.pipeline("template clause", self.peek_non_space().pos)
        else:
            self.next()
        return Include(pos, name, pipe)

    def block(self, pos: int) -> Node:
        name = self.template_name("block clause")
        pos = self.tokens[self.at - 1].pos
        pipe = self.pipeline("block clause", self.peek_non_space().pos)
        saved, self.vars, depth, self.range_depth = self.vars, ["$"], self.range_depth, 0
        body, stop = self.item_list()
        self.vars, self.range_depth = saved, depth
        if stop != "end":
            raise self.error(f"unexpected {{{{{stop}}}}} in block clause")
        self.defined[name] = body
        return Include(pos, name, pipe)

    def pipeline(self, context: str, pos: int, end: str = "close") -> Pipe:
        decl, is_assign = self.declarations(context)
        cmds: list[Command] = []
        while True:
            token = self.next_non_space()
            if token.kind == end:
                self.check_pipeline(cmds, context)
                return Pipe(pos, decl, is_assign, cmds)
            if token.kind in ("bool", "char", "dot", "field", "word", "nil", "number", "raw"):
                pass
            elif token.kind not in ("string", "var", "lparen"):
                raise self.unexpected(token, context)
            self.at -= 1
            cmds.append(self.command())

    def declarations(self, context: str) -> tuple[list[str], bool]:
        token = self.peek_non_space()
        if token.kind != "var":
            return [], False
        mark = self.at
        self.next()
        after = self.peek_non_space()
        if after.kind in ("declare", "assign"):
            self.next()
            if after.kind == "declare":
                self.vars.append(token.value)
            elif token.value not in self.vars:
                raise self.error(f"undefined variable {_go_quote(token.value)}")
            return [token.value], after.kind == "assign"
        if after.kind == "comma" and context == "range":
            self.next()
            second = self.next_non_space()
            sign = self.next_non_space()
            if second.kind != "var" or sign.kind not in ("declare", "assign"):
                raise self.error(f"range can only initialize variables, found {second.value}")
            self.vars.extend([token.value, second.value])
            return [token.value, second.value], sign.kind == "assign"
        if after.kind == "comma":
            raise self.error(f"too many declarations in {context}")
        self.at = mark
        return [], False

    def check_pipeline(self, cmds: list[Command], context: str) -> None:
        if not cmds:
            raise self.error(f"missing value for {context}")
        for index, cmd in enumerate(cmds[1:], start=2):
            first = cmd.args[0]
            if isinstance(first, Literal):
                raise self.error(f"non executable command in pipeline stage {index}")

    def command(self) -> Command:
        cmd = Command(self.peek_non_space().pos, [])
        while True:
            self.peek_non_space()
            operand = self.operand()
            if operand is not None:
                cmd.args.append(operand)
            token = self.next()
            if token.kind == "space":
                continue
            if token.kind in ("close", "rparen"):
                self.at -= 1
            elif token.kind != "pipe":
                raise self.unexpected(token, "operand")
            break
        if not cmd.args:
            raise self.error("empty command")
        return cmd

    def operand(self) -> Node | None:
        node = self.term()
        if node is None or self.peek().kind != "field":
            return node
        pos = self.peek().pos
        fields = []
        while self.peek().kind == "field":
            fields.append(self.next().value[1:])
        if isinstance(node, Field):
            return Field(pos, node.variable, node.idents + fields)
        if isinstance(node, Literal):
            raise self.error(f"unexpected . after term {_go_quote(str(node))}")
        return Chain(pos, node, fields)

    def term(self) -> Node | None:
        token = self.next_non_space()
        kind, value, pos = token.kind, token.value, token.pos
        if kind == "word":
            if value not in self.functions:
                raise self.error(f"function {_go_quote(value)} not defined")
            return Identifier(pos, value)
        if kind in ("dot", "nil", "bool"):
            return Literal(pos, value, {"dot": None, "nil": None}.get(kind, value == "true"))
        if kind == "var":
            if value not in self.vars:
                raise self.error(f"undefined variable {_go_quote(value)}")
            return Field(pos, value, [])
        if kind == "field":
            return Field(pos, None, [value[1:]])
        if kind in ("number", "char"):
            try:
                return Literal(pos, value, None, number(value))
            except ValueError as exc:
                raise self.error(str(exc)) from None
        if kind == "lparen":
            pipe = self.pipeline("parenthesized pipeline", pos, end="rparen")
            return pipe
        if kind in ("string", "raw"):
            try:
                return Literal(pos, value, unquote(value))
            except ValueError as exc:
                raise self.error(str(exc)) from None
        self.at -= 1
        return None


def _describe(token: Token) -> str:
    """Go's item.String(): <keyword>, EOF, or the token %q-quoted (10 characters at most)."""
    if token.kind == "keyword":
        return f"<{token.value}>"
    if token.kind == "eof":
        return "EOF"
    if len(token.value) > 10:
        return _go_quote(token.value[:10]) + "..."
    return _go_quote(token.value)


def parse(text: str, name: str, functions: Collection[str]) -> Template:
    """The parsed template; TemplateError with Go's message when it does not parse."""
    return Parser(text, name, functions).parse()
