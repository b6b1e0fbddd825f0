"""Go's text/template builtins, and how a template function is described (Func).

`and`, `or`, `not`, `eq` `ne` `lt` `le` `gt` `ge`, `len`, `index`, `slice`, `print`,
`printf`, `println`, `html`, `js`, `urlquery`, `call`, with Go 1.19's semantics and error
words. A Func names its Go parameter types, so execute.py converts and refuses arguments the
way Go's reflection does; a Go error result is a FuncError ("error calling NAME: ...").
"""

from __future__ import annotations

import itertools
import urllib.parse
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from safeship.alerting.templates.gofmt import printable, show, sprint, sprintf, sprintln
from safeship.alerting.templates.values import HTML, StrMap, Struct, type_name
from safeship.core.errors import TemplateError

ANY = "interface {}"


class FuncError(TemplateError):
    """A Go function's error result: execution stops with "error calling NAME: ..."."""


@dataclass(frozen=True)
class Func:
    params: tuple[str, ...]  # Go types of the fixed parameters
    call: Callable[..., object]
    variadic: str | None = None  # element type of a trailing ...T


def truth(value: object) -> bool:
    """Go's isTrue: the zero value of its type is false."""
    if value is None:
        return False
    if isinstance(value, bool | int | float | complex):
        return bool(value)
    if isinstance(value, str | dict | list):
        return len(value) > 0
    return True


def _basic(value: object) -> str | None:
    """Go's basicKind: the kinds that compare by value (HTML is a string kind)."""
    kinds = ((bool, "bool"), (int, "int"), (float, "float"), (complex, "complex"), (str, "string"))
    for kind, name in kinds:
        if isinstance(value, kind):
            return name
    return None


def _kind(value: object) -> str:
    kind = _basic(value)
    if kind is None:
        raise FuncError("invalid type for comparison")
    return kind


def eq(first: object, *others: object) -> bool:
    """Go 1.19's eq: basic kinds by value, nil equals nil, maps and slices refuse."""
    if not others:
        raise FuncError("missing argument for comparison")
    kind = _basic(first)
    for other in others:
        if kind != _basic(other):
            if first is not None and other is not None:
                raise FuncError("incompatible types for comparison")
            same = False
        elif kind is not None:
            same = first == other
        elif first is None or other is None:
            same = first is None and other is None
        elif type_name(first) != type_name(other):
            one, two = sprintf("%s", [first]), show(other)
            raise FuncError(
                f"non-comparable types {one}: {type_name(first)}, {type_name(other)}: {two}"
            )
        elif isinstance(other, dict | list) or (isinstance(other, Struct) and not other.pointer):
            shown = sprintf("%s", [other])  # maps, slices and structs holding maps
            raise FuncError(f"non-comparable type {shown}: {type_name(other)}")
        else:
            same = first is other  # pointers compare by identity
        if same:
            return True
    return False


def lt(first: object, second: object) -> bool:
    kind = _kind(first)
    if _kind(second) != kind:
        raise FuncError("incompatible types for comparison")
    if kind in ("bool", "complex"):
        raise FuncError("invalid type for comparison")
    return bool(first < second)  # type: ignore[operator]


def length(item: object) -> int:
    if isinstance(item, str):
        return len(item.encode())
    if isinstance(item, dict | list):
        return len(item)
    if item is None:  # Go panics asking a zero reflect.Value for its type
        raise FuncError("reflect: call of reflect.Value.Type on zero Value")
    raise FuncError(f"len of type {type_name(item).lstrip('*')}")  # Go indirects pointers


def _index_arg(key: object, cap: int) -> int:
    """Go's indexArg: an integer in 0..cap (cap itself passes; reflect refuses it later)."""
    if key is None:
        raise FuncError("cannot index slice/array with nil")
    if not isinstance(key, int) or isinstance(key, bool):
        raise FuncError(f"cannot index slice/array with type {type_name(key)}")
    if not 0 <= key <= cap:
        raise FuncError(f"index out of range: {key}")
    return key


def index(item: object, *keys: object) -> object:
    for key in keys:
        if isinstance(item, dict):
            if not isinstance(key, str) or isinstance(key, HTML):
                raise FuncError(f"value has type {type_name(key)}; should be string")
            item = item.get(key, "" if isinstance(item, StrMap) else None)
        elif isinstance(item, list | str):
            data = item.encode() if isinstance(item, str) else item  # strings index bytes
            at = _index_arg(key, len(data))
            if at == len(data):
                kind = "string" if isinstance(item, str) else "slice"
                raise FuncError(f"reflect: {kind} index out of range")
            item = data[at]
        elif item is None:
            raise FuncError("index of untyped nil")
        else:
            raise FuncError(f"can't index item of type {type_name(item).lstrip('*')}")
    return item


def slice_(item: object, *bounds: object) -> object:
    """Go's slice: item[i:j] (strings by bytes) with Go's checks and words."""
    if item is None:
        raise FuncError("slice of untyped nil")
    if len(bounds) > 3:
        raise FuncError(f"too many slice indexes: {len(bounds)}")
    if not isinstance(item, str | list):
        raise FuncError(f"can't slice item of type {type_name(item)}")
    if isinstance(item, str) and len(bounds) == 3:
        raise FuncError("cannot 3-index slice a string")
    data = item.encode() if isinstance(item, str) else item
    edges = [0, len(data)]
    for i, bound in enumerate(bounds):
        at = _index_arg(bound, len(data))
        edges[i : i + 1] = [at]
    for low, high in itertools.pairwise(edges):
        if low > high:
            raise FuncError(f"invalid slice index: {low} > {high}")
    part = data[edges[0] : edges[1]]
    return part.decode(errors="replace") if isinstance(part, bytes) else type(item)(part)


def html_escape(*args: object) -> str:
    text = _eval_args(args)
    table = {'"': "&#34;", "'": "&#39;", "&": "&amp;", "<": "&lt;", ">": "&gt;", "\x00": "\ufffd"}
    return "".join(table.get(c, c) for c in text)


def js_escape(*args: object) -> str:
    out = []
    for char in _eval_args(args):
        special = {"\\": "\\\\", "'": "\\'", '"': '\\"', "<": "\\u003C", ">": "\\u003E"}
        special |= {"&": "\\u0026", "=": "\\u003D"}
        if char in special:
            out.append(special[char])
        elif ord(char) < 0x20 or (ord(char) >= 0x80 and not char.isprintable()):
            out.append(f"\\u{ord(char):04X}")
        else:
            out.append(char)
    return "".join(out)


def urlquery(*args: object) -> str:
    return urllib.parse.quote_plus(_eval_args(args), safe="-_.~")


def _eval_args(args: Sequence[object]) -> str:
    """Go's evalArgs: Sprint of the arguments as a template would print them."""
    if len(args) == 1 and isinstance(args[0], str):
        return args[0]
    return sprint(*(printable(a) for a in args))


def call(fn: object, *args: object) -> object:
    if fn is None:
        raise FuncError("call of nil")
    raise FuncError(f"non-function of type {type_name(fn)}")


def _printf(fmt: str, *args: object) -> str:
    return sprintf(fmt, list(args))


BUILTINS: dict[str, Func] = {
    "and": Func((ANY,), lambda *a: a[-1], ANY),  # evaluated lazily by execute.py
    "or": Func((ANY,), lambda *a: a[-1], ANY),
    "not": Func((ANY,), lambda v: not truth(v)),
    "eq": Func((ANY,), eq, ANY),
    "ne": Func((ANY, ANY), lambda a, b: not eq(a, b)),
    "lt": Func((ANY, ANY), lt),
    "le": Func((ANY, ANY), lambda a, b: lt(a, b) or eq(a, b)),
    "gt": Func((ANY, ANY), lambda a, b: not (lt(a, b) or eq(a, b))),
    "ge": Func((ANY, ANY), lambda a, b: not lt(a, b)),
    "len": Func((ANY,), length),
    "index": Func((ANY,), index, ANY),
    "slice": Func((ANY,), slice_, ANY),
    "print": Func((), sprint, ANY),
    "printf": Func(("string",), _printf, ANY),
    "println": Func((), sprintln, ANY),
    "html": Func((), html_escape, ANY),
    "js": Func((), js_escape, ANY),
    "urlquery": Func((), urlquery, ANY),
    "call": Func((ANY,), call, ANY),
}
