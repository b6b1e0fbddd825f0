"""Parsing what a scrape target answers: Prometheus text format 0.0.4 and OpenMetrics 1.0.

Where it sits: the scraper (metrics/scrape.py) fetches a body and hands it here; the result
goes, series by series, into the SeriesStore. For speed the parser does not build label
sets: it returns each sample's series text exactly as exposed (`name{a="b"}`), which the
scraper uses as a cache key for a store reference, as Prometheus' scrape cache does. Only a
series seen for the first time is turned into labels by `parse_series`.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field

from safeship.core.errors import InvalidInput
from safeship.core.labels import NAME, Labels, make_labels

OPENMETRICS = "application/openmetrics-text"

_NAME = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*\Z")
_PAIR = re.compile(r'\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*=\s*"((?:[^"\\]|\\.)*)"\s*(,|\Z)')
_UNESCAPE = re.compile(r"\\(.)")
_ESCAPES = {"\\": "\\", '"': '"', "n": "\n"}
# OpenMetrics families whose `_created` samples carry a creation time, not a sample value.
_CREATED_TYPES = frozenset({"counter", "histogram", "summary", "gaugehistogram"})


class ExpositionError(InvalidInput):
    """The body is not valid exposition text; names the line and the problem."""

    def __init__(self, line: int, message: str) -> None:
        super().__init__(f"line {line}: {message}")
        self.line = line


@dataclass
class Scraped:
    """Samples of one scrape, aligned: series text, value, timestamp in ms (or None)."""

    keys: list[str] = field(default_factory=list)
    values: list[float] = field(default_factory=list)
    timestamps: list[int | None] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.keys)


def is_openmetrics(content_type: str | None) -> bool:
    return bool(content_type) and str(content_type).strip().lower().startswith(OPENMETRICS)


def parse(text: str, *, openmetrics: bool = False) -> Scraped:
    """All samples of an exposition body; raises ExpositionError on the first bad line."""
    out = Scraped()
    skip: set[str] = set()  # `_created` series names to leave out (OpenMetrics)
    ended = False
    for number, line in enumerate(text.split("\n"), start=1):
        if ended:
            if line:
                raise ExpositionError(number, "unexpected content after # EOF")
            continue
        if not line or line[0] == "#":
            ended = _comment(line, openmetrics=openmetrics, skip=skip)
            continue
        _sample(line, number, out, openmetrics=openmetrics, skip=skip)
    if openmetrics and not ended:
        raise ExpositionError(number, "expected # EOF at the end of an OpenMetrics body")
    return out


def _comment(line: str, *, openmetrics: bool, skip: set[str]) -> bool:
    """Handle a comment line; True when it ends the body (`# EOF` in OpenMetrics)."""
    if not openmetrics:
        return False
    if line == "# EOF":
        return True
    parts = line.split(None, 3)
    if len(parts) == 4 and parts[1] == "TYPE" and parts[3].strip() in _CREATED_TYPES:
        skip.add(parts[2] + "_created")
    return False


def _sample(line: str, number: int, out: Scraped, *, openmetrics: bool, skip: set[str]) -> None:
    brace = line.find("{")
    space = line.find(" ")
    if brace != -1 and (space == -1 or brace < space):
        # Nothing after the label block holds a '}' except an OpenMetrics exemplar, so the
        # last '}' closes it; only exemplar lines need the quote-aware scan.
        end = line.rfind("}") + 1
        if not _plain(line, end, openmetrics=openmetrics):
            end = _label_end(line, brace, number) + 1
        key, rest = line[:end], line[end:]
    else:
        if space == -1:
            raise ExpositionError(number, f"expected a value after the metric name: {line!r}")
        key, rest = line[:space], line[space:]
    if skip and key.partition("{")[0] in skip:
        return
    value, stamp = _value_and_time(rest, number, openmetrics=openmetrics)
    out.keys.append(key)
    out.values.append(value)
    out.timestamps.append(stamp)


def _plain(line: str, end: int, *, openmetrics: bool) -> bool:
    """True when the last '}' surely closes the label block: no exemplar, no escapes,
    balanced quotes (the common case, checked at C speed)."""
    if end == 0 or "\\" in line or line.count('"', 0, end) % 2:
        return False
    return not openmetrics or " # " not in line


def _label_end(line: str, start: int, number: int) -> int:
    """Index of the `}` closing the label block opened at `start` (quotes may hold braces)."""
    at = start + 1
    while True:
        close = line.find("}", at)
        quote = line.find('"', at)
        if close == -1:
            raise ExpositionError(number, "unterminated label set: missing '}'")
        if quote == -1 or close < quote:
            return close
        at = _string_end(line, quote, number) + 1


def _string_end(line: str, quote: int, number: int) -> int:
    at = quote + 1
    while True:
        end = line.find('"', at)
        if end == -1:
            raise ExpositionError(number, "unterminated label value: missing '\"'")
        backslashes = len(line[at:end]) - len(line[at:end].rstrip("\\"))
        if backslashes % 2 == 0:
            return end
        at = end + 1


def _value_and_time(rest: str, number: int, *, openmetrics: bool) -> tuple[float, int | None]:
    if openmetrics:
        rest = rest.partition(" # ")[0]  # an exemplar follows; Prometheus ignores it here
    parts = rest.split()
    if not parts or len(parts) > 2:
        raise ExpositionError(number, f"expected 'VALUE [TIMESTAMP]', found {rest.strip()!r}")
    try:
        value = float(parts[0])
    except ValueError:
        raise ExpositionError(number, f"expected a number, found {parts[0]!r}") from None
    if len(parts) == 1:
        return value, None
    return value, _timestamp(parts[1], number, openmetrics=openmetrics)


def _timestamp(text: str, number: int, *, openmetrics: bool) -> int:
    try:
        # The text format gives milliseconds as an integer, OpenMetrics seconds as a float.
        stamp = float(text) * 1000 if openmetrics else int(text)
    except ValueError:
        raise ExpositionError(number, f"expected a timestamp, found {text!r}") from None
    if not math.isfinite(stamp):
        raise ExpositionError(number, f"expected a finite timestamp, found {text!r}")
    return round(stamp)


def parse_series(key: str) -> Labels:
    """The label set (with `__name__`) of an exposed series text such as `up{job="a"}`."""
    name, brace, body = key.partition("{")
    name = name.strip()
    if not _NAME.match(name):
        raise ExpositionError(0, f"invalid metric name {name!r}")
    pairs = [(NAME, name)]
    if brace:
        pairs.extend(_label_pairs(body[:-1] if body.endswith("}") else body, key))
    return make_labels(pairs)


def _label_pairs(body: str, key: str) -> list[tuple[str, str]]:
    pairs: list[tuple[str, str]] = []
    at = 0
    while at < len(body) and body[at:].strip():
        found = _PAIR.match(body, at)
        if found is None:
            raise ExpositionError(0, f"invalid label set in {key!r}")
        name, raw = found.group(1), found.group(2)
        value = _UNESCAPE.sub(lambda m: _ESCAPES.get(m.group(1), "\\" + m.group(1)), raw)
        pairs.append((name, value))
        at = found.end()
        if found.group(3) != ",":
            break
    if body[at:].strip():
        raise ExpositionError(0, f"invalid label set in {key!r}")
    names = [n for n, _ in pairs]
    if len(set(names)) != len(names):
        raise ExpositionError(0, f"duplicate label name in {key!r}")
    return pairs
