"""Go values as templates see them: which Python value stands for which Go type.

str → string, bool → bool, int → int, float → float64, None → nil, and the small classes
below for Go's typed values: map[string]string (labels), map[string]interface {} (`args`),
template.HTML (`safeHtml`), Prometheus's *template.sample and queryResult (`query`),
*time.Time (`toTime`) and structs (the alert's data). `type_name` is Go's %T, which
execution errors quote ("wrong type for value; expected string; got float64").
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Protocol, runtime_checkable

# A Go method: its parameter types (as builtins.Func names them) and the bound callable.
Method = tuple[tuple[str, ...], Callable[..., object]]


@runtime_checkable
class HasMethods(Protocol):
    """A value with Go methods (`{{ .Unix }}`): the executor asks before it looks for fields,
    as Go does. Other users of render() give their data methods the same way."""

    def go_method(self, name: str) -> Method | None: ...


class Int64(int):
    """int64: what time.Time's Unix methods return (%T says so)."""


class StrMap(dict[str, str]):
    """map[string]string: label sets."""


class AnyMap(dict[str, object]):
    """map[string]interface {}: what `args` returns."""


class HTML(str):
    """html/template.HTML: what `safeHtml` returns (a string kind, but not a string)."""

    __slots__ = ()


class QueryResult(list["Sample"]):
    """Prometheus's queryResult: the samples `query` returns."""


@dataclass
class Sample:
    """*template.sample: one query result, with `Labels` and `Value`."""

    Labels: StrMap
    Value: float


@dataclass(frozen=True)
class Time:
    """*time.Time (UTC) from `toTime`; prints as Go's Time.String()."""

    unix_ns: int

    def go_method(self, name: str) -> Method | None:
        """time.Time's methods that print a number or the time itself."""
        methods: dict[str, Callable[[], object]] = {
            "Unix": lambda: Int64(self.unix_ns // 1_000_000_000),
            "UnixMilli": lambda: Int64(self.unix_ns // 1_000_000),
            "UnixNano": lambda: Int64(self.unix_ns),
            "UTC": lambda: self,
        }
        found = methods.get(name)
        return None if found is None else ((), found)

    def __str__(self) -> str:
        seconds, nanos = divmod(self.unix_ns, 1_000_000_000)
        moment = datetime(1970, 1, 1, tzinfo=UTC) + timedelta(seconds=seconds)
        fraction = f".{nanos:09d}".rstrip("0") if nanos else ""
        return moment.strftime("%Y-%m-%d %H:%M:%S") + fraction + " +0000 UTC"


@dataclass
class Struct:
    """A Go struct value: named fields in order, and its type as %T prints it."""

    fields: dict[str, object]
    name: str = ""  # a named type's name; unnamed structs print their fields' types
    pointer: bool = False

    @property
    def type_name(self) -> str:
        if self.name:
            return self.name
        inner = "; ".join(f"{k} {type_name(v)}" for k, v in self.fields.items())
        return f"struct {{ {inner} }}"


def type_name(value: object) -> str:
    """Go's %T of a value."""
    names: list[tuple[type, str]] = [
        (bool, "bool"),
        (HTML, "template.HTML"),
        (str, "string"),
        (Int64, "int64"),
        (int, "int"),
        (float, "float64"),
        (complex, "complex128"),
        (StrMap, "map[string]string"),
        (dict, "map[string]interface {}"),  # AnyMap, and plain dicts given to render()
        (QueryResult, "template.queryResult"),
        (list, "[]interface {}"),
        (Sample, "*template.sample"),
        (Time, "*time.Time"),
    ]
    for kind, name in names:
        if isinstance(value, kind):
            return name
    if isinstance(value, Struct):
        return ("*" if value.pointer else "") + value.type_name
    return "<nil>" if value is None else type(value).__name__
