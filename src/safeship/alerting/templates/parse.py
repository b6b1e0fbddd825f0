"""Go text/template source → a tree of nodes, with Go's grammar, positions and messages.

First step of templating: `parse(text, name, functions)` lexes `{{ }}` actions (trim markers
`{{-`/`-}}`, comments) and parses them by recursive descent the way Go's text/template/parse
does, so a template Prometheus refuses is refused here with the same words
("template: NAME:LINE: function \"x\" not defined"). Node positions are byte offsets into
the text; `str(node)` prints a node back as Go does, for execution errors (execute.py).
"""

from __future__ import annotations

from collections.abc import Collection

from safeship.alerting.templates.lex import Lexer, Token
from safeship.alerting.templates.nodes import (
    Action,
    Branch,
    Chain,
    Command,
    Field,
    Identifier,
    Include,
    Jump,
    Literal,
    Node,
    Pipe,
    Template,
    Text,
    go_quote,
    number,
    unquote,
)
from safeship.core.errors import TemplateError


# -- parsing ---------------------------------------------------------------------------------
class Parser:
    """Recursive descent over the tokens, following Go's parse.Tree method by method."""

    def __init__(self, text: str, name: str, functions: Collection[str]) -> None:
        self.text, self.name, self.functions = text, name, functions
        self.tokens = Lexer(text).run()
        self.at = 0
        self.furthest = 0  # Go reports the line of the last token it read, not consumed
        self.action_line = 0
        self.vars = ["$"]
        self.range_depth = 0
        self.defined: dict[str, list[Node]] = {}

    def error_at_line(self, line: int, message: str) -> TemplateError:
        return TemplateError(f"template: {self.name}:{line}: {message}")

    def error(self, message: str) -> TemplateError:
        return self.error_at_line(self.tokens[self.furthest].line, message)

    def next(self) -> Token:
        token = self.tokens[self.at]
        self.furthest = max(self.furthest, self.at)
        self.at = min(self.at + 1, len(self.tokens) - 1)
        return token

    def peek(self) -> Token:
        self.furthest = max(self.furthest, self.at)
        return self.tokens[self.at]

    def next_non_space(self) -> Token:
        token = self.next()
        while token.kind == "space":
            token = self.next()
        return token

    def peek_non_space(self) -> Token:
        while self.tokens[self.at].kind == "space":
            self.at += 1
        return self.peek()

    def unexpected(self, token: Token, context: str) -> TemplateError:
        if token.kind == "error":  # the lexer's words, and where the action began
            extra = ""
            if self.action_line and self.action_line != token.line:
                extra = f" in action started at {self.name}:{self.action_line}"
                extra = (
                    extra.removeprefix(" in action") if token.value.endswith(" action") else extra
                )
            return self.error(token.value + extra)
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
            self.action_line = token.line
            try:
                return self.action()
            finally:
                self.action_line = 0
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
            self.expect("close", "{{" + word + "}}")
            if self.range_depth == 0:
                raise self.error(f"{{{{{word}}}}} outside {{{{range}}}}")
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
            self.vars.append(token.value)  # Go's parser too: `$x = 1` fails only when run
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
            raise self.error(f"unexpected . after term {go_quote(str(node))}")
        return Chain(pos, node, fields)

    def term(self) -> Node | None:
        token = self.next_non_space()
        kind, value, pos = token.kind, token.value, token.pos
        if kind == "word":
            if value not in self.functions:
                raise self.error(f"function {go_quote(value)} not defined")
            return Identifier(pos, value)
        if kind in ("dot", "nil", "bool"):
            return Literal(pos, value, {"dot": None, "nil": None}.get(kind, value == "true"))
        if kind == "var":
            if value not in self.vars:
                raise self.error(f"undefined variable {go_quote(value)}")
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
    if token.kind in ("keyword", "nil", "dot"):  # Go's keyword items print as <word>
        return f"<{token.value}>"
    if token.kind == "eof":
        return "EOF"
    if len(token.value) > 10:
        return go_quote(token.value[:10]) + "..."
    return go_quote(token.value)


def parse(text: str, name: str, functions: Collection[str]) -> Template:
    """The parsed template; TemplateError with Go's message when it does not parse."""
    return Parser(text, name, functions).parse()
