"""Every function a Prometheus template can call, with its Go signature and Go's semantics.

Go's text/template builtins (`and`, `or`, `not`, `eq`..., `len`, `index`, `print*`, `html`,
`js`, `urlquery`, `slice`, `call`) and Prometheus's template reference (template/template.go,
v2.42: `humanize*`, `query`, `first`, `label`, `value`, `sortByLabel`, `reReplaceAll`, ...).
Each entry names its Go parameter types, so execute.py converts and refuses arguments the way
Go's reflection does. Nothing here does I/O: `query` runs through a callable passed in.
"""

from __future__ import annotations

import functools
import ipaddress
import math
import re
import urllib.parse
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field

import re2
from re2 import _re2

from safeship.alerting.templates.gofmt import (
    HTML,
    AnyMap,
    QueryResult,
    Sample,
    StrMap,
    Time,
    go_float,
    show,
    sprint,
    sprintf,
    sprintln,
    type_name,
)
from safeship.core.errors import TemplateError

ANY = "interface {}"
# PromQL at the evaluation time -> (label pairs, value) per sample; raises with the message.
QueryFunc = Callable[[str], Sequence[tuple[Iterable[tuple[str, str]], float]]]
_NIL_DEREF = "runtime error: invalid memory address or nil pointer dereference"
_RE2_OPTIONS = re2.Options()
_RE2_OPTIONS.log_errors = False
_DURATION = re.compile(
    r"^(?:(\d+)y)?(?:(\d+)w)?(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?(?:(\d+)ms)?$"
)
_DURATION_UNITS = (365 * 86400.0, 7 * 86400.0, 86400.0, 3600.0, 60.0, 1.0, 0.001)
_GO_FLOAT = re.compile(r"[+-]?(?:\d+\.?\d*(?:[eE][+-]?\d+)?|\.\d+(?:[eE][+-]?\d+)?)")
_UNDERSCORES = re.compile(
    r"[+-]?(?:0[xX]_?)?[0-9a-fA-F]+(?:_[0-9a-fA-F]+)*(?:\.[0-9a-fA-F_]*)?(?:[eEpP][+-]?\d+)?"
)
_GO_SPECIAL = re.compile(r"[+-]?(?:inf|infinity)|nan", re.IGNORECASE)
_NAMED_ANGLE = re.compile(r"(?:^|[^\\])(?:\\\\)*\(\?<")
_SI = ("k", "M", "G", "T", "P", "E", "Z", "Y")
_SI_SMALL = ("m", "u", "n", "p", "f", "a", "z", "y")
_IEC = ("ki", "Mi", "Gi", "Ti", "Pi", "Ei", "Zi", "Yi")


class FuncError(TemplateError):
    """A Go function's error result: execution stops with "error calling NAME: ..."."""


@dataclass(frozen=True)
class Func:
    params: tuple[str, ...]  # Go types of the fixed parameters
    call: Callable[..., object]
    variadic: str | None = None  # element type of a trailing ...T


@dataclass(frozen=True)
class Env:
    """What an alert expansion sees beyond the alert: the query function (PromQL at the
    evaluation time), the external URL (None where Prometheus has none, as in promtool: then
    `externalURL` and `pathPrefix` fail as they do there) and the external labels."""

    query: QueryFunc | None = None
    external_url: str | None = None
    external_labels: Mapping[str, str] = field(default_factory=dict)
    # What $externalURL holds when it differs from external_url: promtool sets it from the
    # test group's external_url while externalURL() still has no URL.
    url_variable: str | None = None

    @functools.cached_property
    def functions(self) -> dict[str, Func]:
        """Go's builtins and Prometheus's functions over this Env, built once per Env."""
        return {**BUILTINS, **prometheus(self)}


# -- Go's builtins ---------------------------------------------------------------------------
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


# -- Prometheus's functions ------------------------------------------------------------------
def to_float(value: object) -> float:
    """Prometheus's convertToFloat: float64, int, or a string strconv.ParseFloat reads."""
    if isinstance(value, float):
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if isinstance(value, str) and not isinstance(value, HTML):
        return parse_float(value)
    raise FuncError(f"can't convert {type_name(value)} to float")


def parse_float(text: str) -> float:
    """strconv.ParseFloat(text, 64) with Go's error wording."""
    if "_" in text:  # Go accepts underscores where its literals do: between digits
        if not _UNDERSCORES.fullmatch(text):
            raise FuncError(f"strconv.ParseFloat: parsing {_quote(text)}: invalid syntax")
        return parse_float(text.replace("_", ""))
    if _GO_SPECIAL.fullmatch(text):
        return float(text.lower().replace("infinity", "inf"))
    try:
        if _GO_FLOAT.fullmatch(text) or re.fullmatch(r"[+-]?0[xX][0-9a-fA-F.]+[pP][+-]?\d+", text):
            number = float.fromhex(text) if "x" in text.lower() else float(text)
            if math.isinf(number):
                raise FuncError(f'strconv.ParseFloat: parsing "{text}": value out of range')
            return number
    except (ValueError, OverflowError):
        pass
    raise FuncError(f"strconv.ParseFloat: parsing {_quote(text)}: invalid syntax")


def _quote(text: str) -> str:
    from safeship.alerting.templates.gofmt import go_quote

    return go_quote(text)


def _g4(number: float) -> str:
    return go_float(number, "g", 4)


def humanize(value: object) -> str:
    number = to_float(value)
    if number == 0 or math.isnan(number) or math.isinf(number):
        return _g4(number)
    prefix = ""
    if abs(number) >= 1:
        for candidate in _SI:
            if abs(number) < 1000:
                break
            prefix, number = candidate, number / 1000
        return _g4(number) + prefix
    for candidate in _SI_SMALL:
        if abs(number) >= 1:
            break
        prefix, number = candidate, number * 1000
    return _g4(number) + prefix


def humanize_1024(value: object) -> str:
    number = to_float(value)
    if abs(number) <= 1 or math.isnan(number) or math.isinf(number):
        return _g4(number)
    prefix = ""
    for candidate in _IEC:
        if abs(number) < 1024:
            break
        prefix, number = candidate, number / 1024
    return _g4(number) + prefix


def humanize_duration(value: object) -> str:
    number = to_float(value)
    if math.isnan(number) or math.isinf(number):
        return _g4(number)
    if number == 0:
        return _g4(number) + "s"
    if abs(number) >= 1:
        sign = "-" if number < 0 else ""
        number = abs(number)
        whole = int(number) if number < 2.0**63 else -(2**63)  # Go's overflowing int64(v)
        days, hours = _quo(whole, 86400), _rem(_quo(whole, 3600), 24)
        minutes, seconds = _rem(_quo(whole, 60), 60), _rem(whole, 60)
        if days:
            return f"{sign}{days}d {hours}h {minutes}m {seconds}s"
        if hours:
            return f"{sign}{hours}h {minutes}m {seconds}s"
        if minutes:
            return f"{sign}{minutes}m {seconds}s"
        return f"{sign}{_g4(number)}s"
    prefix = ""
    for candidate in _SI_SMALL:
        if abs(number) >= 1:
            break
        prefix, number = candidate, number * 1000
    return f"{_g4(number)}{prefix}s"


def _quo(a: int, b: int) -> int:
    """Go's integer division: truncated toward zero."""
    return -(-a // b) if (a < 0) != (b < 0) else a // b


def _rem(a: int, b: int) -> int:
    return a - b * _quo(a, b)


def humanize_percentage(value: object) -> str:
    return _g4(to_float(value) * 100) + "%"


def to_time(value: object) -> Time:
    number = to_float(value)
    if math.isnan(number) or math.isinf(number):
        raise FuncError("value is NaN or Inf")
    nanos = number * 1e9
    if nanos > 2.0**63 or nanos < -(2.0**63):
        raise FuncError(
            f"{go_float(number)} cannot be represented as a nanoseconds timestamp "
            "since it overflows int64"
        )
    millis = int(int(nanos) / 1_000_000)  # model.TimeFromUnixNano truncates to milliseconds
    return Time(millis * 1_000_000)


def humanize_timestamp(value: object) -> str:
    number = to_float(value)
    if math.isnan(number) or math.isinf(number):
        return _g4(number)
    return str(to_time(number))


def title(text: str) -> str:
    """strings.Title: upper-case the first letter of every word."""
    out, previous = [], " "
    for char in text:
        separator = not (previous.isalnum() or previous == "_")
        if previous.isascii() is False and not previous.isalnum():
            separator = previous.isspace()
        out.append(_title(char) if separator else char)
        previous = char
    return "".join(out)


def _upper(char: str) -> str:
    upper = char.upper()
    return upper if len(upper) == 1 else char


def _title(char: str) -> str:
    titled = char.title()  # unicode.ToTitle: Ǆ and ǆ become ǅ
    return titled if len(titled) == 1 else char


def _lower(char: str) -> str:
    return char.lower()[:1] or char  # unicode.ToLower maps İ to i, one rune for one


def _regex(pattern: str) -> _re2.RE2:
    if _NAMED_ANGLE.search(pattern):  # Go's regexp (before Go 1.22) has only (?P<name>
        raise FuncError("error parsing regexp: invalid or unsupported Perl syntax: `(?<`")
    compiled = _re2.RE2(pattern.encode(), _RE2_OPTIONS)
    if not compiled.ok():
        code, _, arg = compiled.error().decode(errors="replace").partition(": ")
        codes = {"missing )": "missing closing )", "missing ]": "missing closing ]"}
        codes |= {"bad repetition operator": "invalid nested repetition operator"}
        codes |= {"invalid perl operator": "invalid or unsupported Perl syntax"}
        codes |= {"no argument for repetition operator": "missing argument to repetition operator"}
        codes |= {"trailing \\": "trailing backslash at end of expression"}
        raise FuncError(f"error parsing regexp: {codes.get(code, code)}: `{arg}`")
    return compiled


def match(pattern: str, text: str) -> bool:
    data = text.encode()
    spans = _regex(pattern).Match(re2._Anchor.UNANCHORED, data, 0, len(data))
    return bool(spans[0] != (-1, -1))


def re_replace_all(pattern: str, replacement: str, text: str) -> str:
    """Regexp.ReplaceAllString: $1, ${name} expand; an empty match right after a match is
    skipped, as Go does (Python's re.sub differs there)."""
    try:
        compiled = _regex(pattern)
    except FuncError as exc:
        raise FuncError(f"regexp: Compile({_backquote(pattern)}): {exc}") from None
    names = {n.decode(): i for n, i in compiled.NamedCapturingGroups()}
    data, out, last, pos = text.encode(), [], 0, 0
    while pos <= len(data):
        spans = compiled.Match(re2._Anchor.UNANCHORED, data, pos, len(data))
        if spans[0] == (-1, -1):
            break
        start, end = spans[0]
        out.append(data[last:start])
        if end > last or start == 0:
            groups = [None if s == (-1, -1) else data[s[0] : s[1]] for s in spans]
            out.append(_go_expand(replacement.encode(), groups, names))
        last = end
        pos = max(end, pos + _width(data, pos)) if end == pos else end
    out.append(data[last:])
    return b"".join(out).decode(errors="replace")


def _backquote(pattern: str) -> str:
    return "`" + pattern + "`"


def _width(data: bytes, pos: int) -> int:
    if pos >= len(data):
        return 1
    lead = data[pos]
    return 1 if lead < 0xC0 else 2 if lead < 0xE0 else 3 if lead < 0xF0 else 4


def _go_expand(template: bytes, groups: list[bytes | None], names: dict[str, int]) -> bytes:
    out, i = [], 0
    while i < len(template):
        dollar = template.find(b"$", i)
        if dollar < 0 or dollar + 1 >= len(template):
            out.append(template[i:])
            break
        out.append(template[i:dollar])
        rest = template[dollar + 1 :]
        if rest.startswith(b"$"):
            out.append(b"$")
            i = dollar + 2
            continue
        braced = re.match(rb"\{(\w+)\}", rest)
        plain = re.match(rb"\w+", rest)
        found = braced or plain
        if found is None:
            out.append(b"$")
            i = dollar + 1
            continue
        name = found.group(1 if braced else 0).decode()
        number = int(name) if name.isdigit() else names.get(name, -1)
        if 0 <= number < len(groups):
            out.append(groups[number] or b"")
        i = dollar + 1 + found.end()
    return b"".join(out)


def split_host_port(hostport: str) -> tuple[str, str] | None:
    """net.SplitHostPort, None where Go returns an error."""
    colon = hostport.rfind(":")
    if colon < 0:
        return None
    if hostport.startswith("["):
        end = hostport.find("]")
        if end < 0 or end + 1 != colon:
            return None
        host, inner_start, inner_end = hostport[1:end], 1, end + 1
    else:
        host, inner_start, inner_end = hostport[:colon], 0, 0
        if ":" in host:
            return None
    if "[" in hostport[inner_start:] or "]" in hostport[inner_end:]:
        return None
    return host, hostport[colon + 1 :]


def strip_port(hostport: str) -> str:
    split = split_host_port(hostport)
    return hostport if split is None else split[0]


def strip_domain(hostport: str) -> str:
    split = split_host_port(hostport)
    host, port = split if split is not None else (hostport, "")
    try:
        ipaddress.ip_address(host)
        return hostport
    except ValueError:
        pass
    host = host.split(".")[0]
    if not port:
        return host
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def parse_duration(text: str) -> float:
    """model.ParseDuration in seconds: 1y2w3d4h5m6s7ms, or "0"."""
    if text == "0":
        return 0.0
    if not text:
        raise FuncError("empty duration string")
    found = _DURATION.match(text)
    if found is None:
        raise FuncError(f"not a valid duration string: {_quote(text)}")
    millis = sum(
        round(float(g) * u * 1000)
        for g, u in zip(found.groups(), _DURATION_UNITS, strict=True)
        if g
    )
    if millis >= 2**63 / 1e6:
        raise FuncError("duration out of range")
    return millis / 1000


def first(result: object) -> Sample:
    if isinstance(result, list) and result:
        return result[0]  # type: ignore[no-any-return]
    raise FuncError("first() called on vector with no elements")


def _need(sample: Sample | None) -> Sample:
    if sample is None:
        raise FuncError(_NIL_DEREF)
    return sample


def sort_by_label(label: str, result: QueryResult | None) -> QueryResult:
    items = list(result or [])
    return QueryResult(sorted(items, key=lambda s: s.Labels.get(label, "")))


def _args(*values: object) -> AnyMap:
    return AnyMap({f"arg{i}": v for i, v in enumerate(values)})


def prometheus(env: Env) -> dict[str, Func]:
    """Prometheus's function map for one expansion (query and URLs close over `env`)."""

    def query(expr: str) -> QueryResult:
        if env.query is None:
            raise FuncError(_NIL_DEREF)
        try:
            rows = env.query(expr)
        except Exception as exc:  # the engine's message is the template's error, as in Go
            raise FuncError(str(exc)) from None
        return QueryResult(Sample(StrMap(labels), float(value)) for labels, value in rows)

    def url_part(path_only: bool) -> str:
        if env.external_url is None:
            raise FuncError(_NIL_DEREF)
        return urllib.parse.urlsplit(env.external_url).path if path_only else env.external_url

    graph = "/graph?g0.expr={}&g0.tab={}"
    return {
        "query": Func(("string",), query),
        "first": Func(("template.queryResult",), first),
        "label": Func(("string", "*template.sample"), lambda n, s: _need(s).Labels.get(n, "")),
        "value": Func(("*template.sample",), lambda s: _need(s).Value),
        "strvalue": Func(("*template.sample",), lambda s: _need(s).Labels.get("__value__", "")),
        "args": Func((), _args, ANY),
        "reReplaceAll": Func(("string", "string", "string"), re_replace_all),
        "safeHtml": Func(("string",), HTML),
        "match": Func(("string", "string"), match),
        "title": Func(("string",), title),
        "toUpper": Func(("string",), lambda s: "".join(map(_upper, s))),
        "toLower": Func(("string",), lambda s: "".join(map(_lower, s))),
        "graphLink": Func(
            ("string",), lambda e: graph.format(urllib.parse.quote_plus(e, safe="-_.~"), 0)
        ),
        "tableLink": Func(
            ("string",), lambda e: graph.format(urllib.parse.quote_plus(e, safe="-_.~"), 1)
        ),
        "sortByLabel": Func(("string", "template.queryResult"), sort_by_label),
        "stripPort": Func(("string",), strip_port),
        "stripDomain": Func(("string",), strip_domain),
        "humanize": Func((ANY,), humanize),
        "humanize1024": Func((ANY,), humanize_1024),
        "humanizeDuration": Func((ANY,), humanize_duration),
        "humanizePercentage": Func((ANY,), humanize_percentage),
        "humanizeTimestamp": Func((ANY,), humanize_timestamp),
        "toTime": Func((ANY,), to_time),
        "pathPrefix": Func((), lambda: url_part(True)),
        "externalURL": Func((), lambda: url_part(False)),
        "parseDuration": Func(("string",), parse_duration),
    }


NAMES = frozenset(BUILTINS) | frozenset(prometheus(Env()))
