"""promtool's input-series notation: `a{b="c"}` selectors and expanding values (`1+2x3`).

Used by the rule-test runner to load test data exactly as `promtool test rules` does:
`a+bxN` gives N+1 values (adding b each time), `axN` gives N+1 copies, `_` skips a step,
`_xN` skips N steps and `stale` writes a staleness marker.
"""

from __future__ import annotations

import math
import re
from typing import Any

import numpy as np
import promql_parser as pp

from safeship.core.errors import InvalidInput
from safeship.core.labels import NAME, STALE_NAN, Labels, make_labels

# No hex here: in series values `0x30` means "0, thirty more times", as in promtool.
_NUM = r"[-+]?(?:(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?|[iI]nf|NaN|nan)"
_ITEM = re.compile(rf"^(?P<a>{_NUM})(?:(?P<op>[-+])(?P<b>{_NUM[5:]}))?x(?P<n>\d+)$")
_PLAIN = re.compile(rf"^{_NUM}$")
_BLANKS = re.compile(r"^_x(\d+)$")


class NotationError(InvalidInput, ValueError):
    """A value or series string that promtool would reject (still a ValueError for parsers)."""


def parse_number(text: str) -> float:
    lowered = text.lower().lstrip("+-")
    sign = -1.0 if text.startswith("-") else 1.0
    if lowered in ("inf", "nan"):
        return sign * (math.inf if lowered == "inf" else math.nan)
    return float(text)


def expand_values(text: str) -> list[float | None]:
    """Each step's value; None where the step is skipped."""
    out: list[float | None] = []
    for token in str(text).split():
        out.extend(_expand_token(token))
    return out


def _expand_token(token: str) -> list[float | None]:
    if token == "_":
        return [None]
    if token == "stale":
        return [STALE_NAN]
    blanks = _BLANKS.match(token)
    if blanks:
        return [None] * int(blanks.group(1))
    if _PLAIN.match(token):
        return [parse_number(token)]
    item = _ITEM.match(token)
    if item is None:
        raise NotationError(f"cannot expand {token!r}: expected N, a+bxN, a-bxN, axN, _ or stale")
    return _progression(item)


def _progression(item: re.Match[str]) -> list[float | None]:
    value = parse_number(item.group("a"))
    step = parse_number(item.group("b")) if item.group("b") else 0.0
    if item.group("op") == "-":
        step = -step
    out: list[float | None] = []
    for _ in range(int(item.group("n")) + 1):
        out.append(value)
        value += step  # repeated addition, as promtool does, so float rounding matches
    return out


def parse_series(text: str) -> Labels:
    """`name{a="b"}` or `{__name__="x", a="b"}` as a label set."""
    stripped = text.strip()
    if stripped in ("", "{}"):
        return ()
    try:
        node: Any = pp.parse(stripped)
    except ValueError as exc:
        raise NotationError(f"cannot parse series {text!r}: {exc}") from None
    if type(node).__name__ != "VectorSelector":
        raise NotationError(f'expected a series like name{{label="value"}}, found {text!r}')
    pairs = {m.name: m.value for m in node.matchers.matchers if str(m.op).endswith("Equal")}
    if any(not str(m.op).endswith(".Equal") for m in node.matchers.matchers):
        raise NotationError(f"series {text!r} may only use = matchers")
    if node.name:
        pairs[NAME] = node.name
    return make_labels(pairs)


def format_go_e(value: float) -> str:
    """strconv.FormatFloat(v, 'E', -1, 64), as promtool prints values."""
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    text = np.format_float_scientific(value, unique=True, trim="-", exp_digits=2)
    return text.upper()


def format_duration(ms: int) -> str:
    """Prometheus model.Duration's String(): 1h5m, 90s -> 1m30s, 0s."""
    if ms == 0:
        return "0s"
    out, rest = "", ms
    for unit, size in (
        ("y", 31_536_000_000),
        ("w", 604_800_000),
        ("d", 86_400_000),
        ("h", 3_600_000),
        ("m", 60_000),
        ("s", 1000),
        ("ms", 1),
    ):
        if rest >= size:
            out += f"{rest // size}{unit}"
            rest %= size
    return out
