"""Go's text/template builtins, and how a template function is described (Func).

`and`, `or`, `not`, `eq` `ne` `lt` `le` `gt` `ge`, `len`, `index`, `slice`, `print`,
`printf`, `println`, `html`, `js`, `urlquery`, `call`, with Go 1.19's semantics and error
words. A Func names its Go parameter types, so execute.py converts and refuses arguments the
way Go's reflection does; a Go error result is a FuncError ("error calling NAME: ...").
"""

from __future__ import annotations

import urllib.parse
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from safeship.alerting.templates.gofmt import show, sprint, sprintf, sprintln
from safeship.alerting.templates.values import HTML, StrMap, type_name
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
    if isinstance(value, bool | int | float):
        return bool(value)
    if isinstance(value, str | dict | list):
        return len(value) > 0
    return True


def _basic(value: object) -> str | None:
    """Go's basicKind: the kinds that compare by value (HTML is a string kind)."""
    for kind, name in ((bool, "bool"), (int, "int"), (float, "float"), (str, "string")):
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
            truth = False
        elif kind is not None:
            truth = first == other
        elif first is None or other is None:
            truth = first is None and other is None
        elif isinstance(other, dict | list):
            raise FuncError(f"non-comparable type {show(other)}: {type_name(other)}")
        else:
            truth = first is other  # pointers compare by identity
        if truth:
            return True
    return False


def lt(first: object, second: object) -> bool:
    kind = _kind(first)
    if _kind(second) != kind:
        raise FuncError("incompatible types for comparison")
    if kind == "bool":
        raise FuncError("invalid type for comparison")
    return bool(first < second)  # type: ignore[operator]


def length(item: object) -> int:
    if isinstance(item, str):
        return len(item.encode())
    if isinstance(item, dict | list):
        return len(item)
    if item is None:  # Go panics asking a zero reflect.Value for its type
        raise FuncError("reflect: call of reflect.Value.Type on zero Value")
    raise FuncError(f"len of type {type_name(item)}")


def index(item: object, *keys: object) -> object:
    for key in keys:
        if isinstance(item, dict):
            if not isinstance(key, str) or isinstance(key, HTML):
                raise FuncError(f"value has type {type_name(key)}; should be string")
            item = item.get(key, "" if isinstance(item, StrMap) else None)
        elif isinstance(item, list | str):
            if not isinstance(key, int) or isinstance(key, bool):
                raise FuncError(f"cannot index slice/array with type {type_name(key)}")
            size = len(item.encode()) if isinstance(item, str) else len(item)
            if not 0 <= key <= size:
                raise FuncError(f"index out of range: {key}")
            if key == size:  # Go's bounds check lets len through; reflect then panics
                kind = "string" if isinstance(item, str) else "slice"
                raise FuncError(f"reflect: {kind} index out of range")
            item = item.encode()[key] if isinstance(item, str) else item[key]
        elif item is None:
            raise FuncError("index of untyped nil")
        else:
            raise FuncError(f"can't index item of type {type_name(item)}")
    return item


def slice_(item: object, *bounds: object) -> object:
    if not isinstance(item, str | list):
        raise FuncError(f"can't slice item of type {type_name(item)}")
    ints = [b for b in bounds if isinstance(b, int) and not isinstance(b, bool)]
    if len(ints) != len(bounds) or len(bounds) > (2 if isinstance(item, str) else 3):
        raise FuncError("invalid slice index")
    size = len(item)
    start, end = (ints + [0, size])[0], (ints[1:] + [size])[0]
    if not 0 <= start <= end <= size:
        raise FuncError(f"invalid slice index: {start} > {end}")
    return item[start:end]


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
    if len(args) == 1 and isinstance(args[0], str):
        return args[0]
    return sprint(*args)


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
