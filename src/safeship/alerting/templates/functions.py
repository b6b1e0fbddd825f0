"""Prometheus's template functions (template/template.go, v2.42), with Go's semantics.

`humanize*`, `toTime`, `query`, `first`, `label`, `value`, `strvalue`, `sortByLabel`,
`args`, `reReplaceAll`, `match`, `title`, `toUpper`, `toLower`, `safeHtml`, `graphLink`,
`tableLink`, `stripPort`, `stripDomain`, `parseDuration`, `externalURL`, `pathPrefix`.
Each entry names its Go parameter types (builtins.Func). Nothing here does I/O: `query`
runs through the callable an Env carries, and the URL functions read the Env's URL.
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

from safeship.alerting.templates.builtins import ANY, BUILTINS, Func, FuncError
from safeship.alerting.templates.gofmt import go_float, go_quote
from safeship.alerting.templates.values import (
    HTML,
    AnyMap,
    QueryResult,
    Sample,
    StrMap,
    Time,
    type_name,
)

# PromQL at the evaluation time -> (label pairs, value) per sample; raises with the message.
QueryFunc = Callable[[str], Sequence[tuple[Iterable[tuple[str, str]], float]]]
_NIL_DEREF = "runtime error: invalid memory address or nil pointer dereference"
_RE2_OPTIONS = re2.Options()
_RE2_OPTIONS.log_errors = False
_DURATION = re.compile(
    r"(?:(\d+)y)?(?:(\d+)w)?(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?(?:(\d+)ms)?"
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
            raise FuncError(f"strconv.ParseFloat: parsing {go_quote(text)}: invalid syntax")
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
    raise FuncError(f"strconv.ParseFloat: parsing {go_quote(text)}: invalid syntax")


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
    found = _DURATION.fullmatch(text)  # not match(...$): $ would pass a trailing newline
    if found is None:
        raise FuncError(f"not a valid duration string: {go_quote(text)}")
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
