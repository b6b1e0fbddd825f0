"""Execute a parsed template over data, as Go's text/template does with missingkey=zero.

Second step of templating: walk the nodes parse.py built, evaluate pipelines (variables,
fields of structs and maps, function calls with Go's argument checks, `and`/`or` short
circuits), print values with Go's %v, and stop at the first error with Go's wording:
"template: NAME:LINE:COL: executing \"NAME\" at <node>: message".
"""

from __future__ import annotations

from collections.abc import Mapping

from safeship.alerting.templates.builtins import ANY, Func, FuncError, truth
from safeship.alerting.templates.gofmt import printable, show
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
    Number,
    Pipe,
    Template,
    Text,
)
from safeship.alerting.templates.values import (
    AnyMap,
    Sample,
    StrMap,
    Struct,
    type_name,
)
from safeship.core.errors import TemplateError

_MISSING = object()  # "no value from a previous pipeline stage"
_NILABLE = ("*template.sample", "template.queryResult", "map[string]string", ANY)
_MAX_DEPTH = 1000


class _State:
    def __init__(self, template: Template, functions: Mapping[str, Func], depth: int = 0) -> None:
        self.template, self.functions = template, functions
        self.vars: list[tuple[str, object]] = []
        self.out: list[str] = []
        self.node: Node | None = None
        self.depth = depth

    def fail(self, message: str) -> TemplateError:
        name = self.template.name
        if self.node is None:
            return TemplateError(f"template: {name}: {message}")
        context = str(self.node)  # whole: Go 1.19's ErrorContext does not shorten it
        where = self.template.where(self.node)
        return TemplateError(f'template: {where}: executing "{name}" at <{context}>: {message}')

    # -- walking ---------------------------------------------------------------------------
    def walk(self, dot: object, nodes: list[Node]) -> str | None:
        """Run `nodes`; "break" or "continue" when one of them reached such an action (the
        enclosing range acts on it), else None."""
        for node in nodes:
            self.node = node
            if isinstance(node, Text):
                self.out.append(node.text)
            elif isinstance(node, Branch):
                jump = self.branch(dot, node)
                if jump is not None:
                    return jump
            elif isinstance(node, Include):
                self.include(dot, node)
            elif isinstance(node, Jump):
                return node.kind
            elif isinstance(node, Action):
                value = self.pipeline(dot, node.pipe)
                if not node.pipe.decl:  # an action that declares variables prints nothing
                    self.print(node, value)
        return None

    def print(self, node: Node, value: object) -> None:
        self.node = node
        self.out.append(show(printable(value)))

    def branch(self, dot: object, node: Branch) -> str | None:
        mark = len(self.vars)
        value = self.pipeline(dot, node.pipe)
        jump = None
        if node.kind == "range":
            self.range(dot, node, value)
        elif truth(value):
            jump = self.walk(value if node.kind == "with" else dot, node.body)
        elif node.orelse is not None:
            jump = self.walk(dot, node.orelse)
        del self.vars[mark:]
        return jump

    def range(self, dot: object, node: Branch, value: object) -> None:
        if isinstance(value, dict):
            items: list[tuple[object, object]] = [(k, value[k]) for k in sorted(value)]
        elif isinstance(value, list):
            items = list(enumerate(value))
        elif value is None:
            items = []
        else:
            raise self.fail(f"range can't iterate over {show(printable(value))}")
        top = len(self.vars)
        for key, element in items:
            if node.pipe.decl:
                self.vars[top - 1] = (self.vars[top - 1][0], element)
            if len(node.pipe.decl) > 1:
                self.vars[top - 2] = (self.vars[top - 2][0], key)
            jump = self.walk(element, node.body)
            del self.vars[top:]
            if jump == "break":
                break
        if not items and node.orelse is not None:
            self.walk(dot, node.orelse)

    def include(self, dot: object, node: Include) -> None:
        body = self.template.defined.get(node.name)
        if body is None:
            raise self.fail(f'template "{node.name}" not defined')
        if self.depth >= _MAX_DEPTH:
            raise self.fail(f"exceeded maximum template depth ({_MAX_DEPTH})")
        value = self.pipeline(dot, node.pipe) if node.pipe is not None else dot
        inner = _State(self.template, self.functions, self.depth + 1)
        inner.vars = [("$", value)]
        inner.walk(value, body)
        self.out.extend(inner.out)

    # -- evaluating ------------------------------------------------------------------------
    def pipeline(self, dot: object, pipe: Pipe) -> object:
        self.node = pipe
        value: object = _MISSING
        for cmd in pipe.cmds:
            value = self.command(dot, cmd, value)
        for name in pipe.decl:
            if pipe.is_assign:
                self.set_var(name, value)
            else:
                self.vars.append((name, value))
        return value

    def set_var(self, name: str, value: object) -> None:
        for i in range(len(self.vars) - 1, -1, -1):
            if self.vars[i][0] == name:
                self.vars[i] = (name, value)
                return
        raise self.fail(f"undefined variable: {name}")

    def var(self, name: str) -> object:
        for key, value in reversed(self.vars):
            if key == name:
                return value
        raise self.fail(f"undefined variable: {name}")

    def command(self, dot: object, cmd: Command, final: object) -> object:
        first = cmd.args[0]
        if isinstance(first, Field):
            return self.field_node(dot, first, cmd.args, final)
        if isinstance(first, Chain):
            self.node = first
            receiver = self.arg(dot, ANY, first.node)
            return self.field_chain(dot, receiver, first.fields, cmd.args, final)
        if isinstance(first, Identifier):
            return self.function(dot, first, cmd, cmd.args, final)
        if isinstance(first, Pipe):
            self.not_a_function(cmd.args, final)
            return self.pipeline(dot, first)
        self.node = first
        self.not_a_function(cmd.args, final)
        assert isinstance(first, Literal)
        if first.source == ".":
            return dot
        if first.source == "nil":
            raise self.fail("nil is not a command")
        if first.number is not None:
            return self.ideal(first, first.number)
        return first.value

    def not_a_function(self, args: list[Node], final: object) -> None:
        if len(args) > 1 or final is not _MISSING:
            raise self.fail(f"can't give argument to non-function {args[0]}")

    def ideal(self, node: Literal, number: Number) -> object:
        self.node = node
        if number.as_complex is not None:
            return number.as_complex
        if number.prefers_float:
            return number.as_float
        if number.as_int is not None:
            return number.as_int
        raise self.fail(f"{node.source} overflows int")

    def field_node(self, dot: object, node: Field, args: list[Node], final: object) -> object:
        self.node = node
        if node.variable is None:
            return self.field_chain(dot, dot, node.idents, args, final)
        value = self.var(node.variable)
        if not node.idents:
            self.not_a_function(args, final)
            return value
        return self.field_chain(dot, value, node.idents, args, final)

    def field_chain(
        self, dot: object, receiver: object, idents: list[str], args: list[Node], final: object
    ) -> object:
        """.A.B.C from `receiver`: fields, map keys or methods; only the last gets arguments."""
        node = self.node
        static: str | None = None  # an element of map[string]interface {} is an interface {}
        for ident in idents[:-1]:
            inner = self.field(dot, node, ident, [], _MISSING, receiver, static)
            static = ANY if isinstance(receiver, AnyMap) else None
            receiver = inner
        return self.field(dot, node, idents[-1], args, final, receiver, static)

    def field(
        self,
        dot: object,
        node: Node | None,
        name: str,
        args: list[Node],
        final: object,
        receiver: object,
        static: str | None,
    ) -> object:
        if receiver is None:
            return None
        lookup = getattr(receiver, "go_method", None)  # values with Go methods define it
        method = lookup(name) if lookup is not None else None
        if method is not None:  # Go looks for a method before a field
            params, call = method
            at = node if node is not None else self.node
            assert at is not None
            return self.call(dot, Func(params, call), at, name, args, final)
        has_args = len(args) > 1 or final is not _MISSING
        if isinstance(receiver, dict):
            if has_args:
                raise self.fail(f"{name} is not a method but has arguments")
            return receiver.get(name, "" if isinstance(receiver, StrMap) else None)
        fields = receiver.fields if isinstance(receiver, Struct) else None
        fields = vars(receiver) if isinstance(receiver, Sample) else fields
        if fields is not None and name in fields:
            if has_args:
                raise self.fail(f"{name} has arguments but cannot be invoked as function")
            return fields[name]
        raise self.fail(f"can't evaluate field {name} in type {static or type_name(receiver)}")

    def function(
        self, dot: object, node: Identifier, cmd: Node, args: list[Node] | None, final: object
    ) -> object:
        self.node = node
        fn = self.functions.get(node.name)
        if fn is None:
            raise self.fail(f'"{node.name}" is not a defined function')
        return self.call(dot, fn, cmd, node.name, args, final)

    def call(
        self, dot: object, fn: Func, node: Node, name: str, args: list[Node] | None, final: object
    ) -> object:
        operands = (args or [])[1:]
        count = len(operands) + (final is not _MISSING)
        fixed = len(fn.params)
        if fn.variadic is not None and count < fixed:
            raise self.fail(
                f"wrong number of args for {name}: want at least {fixed} got {len(operands)}"
            )
        if fn.variadic is None and count != fixed:
            raise self.fail(f"wrong number of args for {name}: want {fixed} got {count}")
        types = [*fn.params, *[fn.variadic or ANY] * (count - fixed)]
        if name in ("and", "or"):
            return self.logic(dot, name, operands, final)
        values = [self.arg(dot, types[i], operand) for i, operand in enumerate(operands)]
        if final is not _MISSING:
            values.append(self.validate(final, types[-1]))
        try:
            return fn.call(*values)
        except FuncError as exc:
            self.node = node
            raise self.fail(f"error calling {name}: {exc}") from None

    def logic(self, dot: object, name: str, operands: list[Node], final: object) -> object:
        value: object = None
        for operand in operands:
            value = self.arg(dot, ANY, operand)
            if truth(value) == (name == "or"):
                return value
        return final if final is not _MISSING else value

    def arg(self, dot: object, kind: str, node: Node) -> object:
        self.node = node
        if isinstance(node, Literal) and node.source == ".":
            return self.validate(dot, kind)
        if isinstance(node, Literal) and node.source == "nil":
            if kind in _NILABLE:
                return None
            raise self.fail(f"cannot assign nil to {kind}")
        if isinstance(node, Field):
            return self.validate(self.field_node(dot, node, [node], _MISSING), kind)
        if isinstance(node, Pipe):
            return self.validate(self.pipeline(dot, node), kind)
        if isinstance(node, Identifier):
            return self.validate(self.function(dot, node, node, None, _MISSING), kind)
        if isinstance(node, Chain):
            receiver = self.arg(dot, ANY, node.node)
            self.node = node
            value = self.field_chain(dot, receiver, node.fields, [], _MISSING)
            return self.validate(value, kind)
        assert isinstance(node, Literal)
        return self.literal(node, kind)

    def literal(self, node: Literal, kind: str) -> object:
        number = node.number
        if kind == ANY:
            return self.ideal(node, number) if number is not None else node.value
        if kind == "bool" and isinstance(node.value, bool) and number is None:
            return node.value
        if kind == "string" and isinstance(node.value, str) and number is None:
            return node.value
        if kind == "float64" and number is not None and number.as_float is not None:
            return number.as_float
        if kind == "int" and number is not None and number.as_int is not None:
            return number.as_int
        expected = {"bool": "bool", "string": "string", "float64": "float", "int": "integer"}
        if kind in expected:
            raise self.fail(f"expected {expected[kind]}; found {node}")
        raise self.fail(f"can't handle {node} for arg of type {kind}")

    def validate(self, value: object, kind: str) -> object:
        if value is None:
            if kind in _NILABLE:
                return None
            raise self.fail(f"invalid value; expected {kind}")
        if kind == ANY or type_name(value) == kind:
            return value
        raise self.fail(f"wrong type for value; expected {kind}; got {type_name(value)}")


def execute(template: Template, data: object, functions: Mapping[str, Func]) -> str:
    """The template's output over `data`; TemplateError with Go's message on failure."""
    state = _State(template, functions)
    state.vars = [("$", data)]
    state.walk(data, template.body)
    return "".join(state.out)
