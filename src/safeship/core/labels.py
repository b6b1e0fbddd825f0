"""Label sets and sample markers shared by the store, the scraper and the PromQL engine.

A label set is a tuple of (name, value) pairs sorted by name: hashable, cheap to compare,
and ordered exactly as Prometheus orders series (labels.Compare), which keeps results
that depend on series order (sums of floats) identical to Prometheus.
"""

from __future__ import annotations

import math
import struct
from collections.abc import Iterable, Mapping

Labels = tuple[tuple[str, str], ...]
NAME = "__name__"
EMPTY: Labels = ()

# Prometheus marks a vanished series with this exact NaN bit pattern (value.StaleNaN).
STALE_BITS = 0x7FF0000000000002
STALE_NAN: float = struct.unpack("<d", struct.pack("<Q", STALE_BITS))[0]


def is_stale(value: float) -> bool:
    """True for the staleness marker only, not for an ordinary NaN sample."""
    if not math.isnan(value):
        return False
    return bool(struct.unpack("<Q", struct.pack("<d", value))[0] == STALE_BITS)


def make_labels(pairs: Mapping[str, str] | Iterable[tuple[str, str]]) -> Labels:
    """A canonical label set; empty values are dropped because Prometheus treats them as absent."""
    items = pairs.items() if isinstance(pairs, Mapping) else pairs
    return tuple(sorted((k, v) for k, v in items if v != ""))


def get(labels: Labels, name: str) -> str:
    """The value of `name`, or "" when absent (Prometheus semantics)."""
    for key, value in labels:
        if key == name:
            return value
    return ""


def drop_name(labels: Labels) -> Labels:
    """The label set without its metric name, as most functions and arithmetic return it."""
    if labels and labels[0][0] == NAME:
        return labels[1:]  # the usual case: "__name__" sorts before lowercase names
    return _project(labels, _NAME_ONLY, False)


# Label projections are memoised: alert rounds project the same series again and again.
_MEMO: dict[tuple[Labels, frozenset[str], bool], Labels] = {}
_MEMO_LIMIT = 1_000_000
_NAME_ONLY = frozenset({NAME})


def _project(labels: Labels, names: frozenset[str], keep: bool) -> Labels:
    key = (labels, names, keep)
    found = _MEMO.get(key)
    if found is None:
        found = tuple(p for p in labels if (p[0] in names) == keep)
        if len(_MEMO) >= _MEMO_LIMIT:
            _MEMO.clear()
        _MEMO[key] = found
    return found


_LISTS: dict[int, tuple[list[Labels], list[Labels]]] = {}


def drop_names(labels: list[Labels]) -> list[Labels]:
    """`drop_name` over a list; memoised per list object (lists are never mutated), so the
    same selection reused across evaluation rounds is stripped once."""
    hit = _LISTS.get(id(labels))
    if hit is not None and hit[0] is labels:
        return hit[1]
    out = [drop_name(x) for x in labels]
    if len(_LISTS) >= 10_000:
        _LISTS.clear()
    _LISTS[id(labels)] = (labels, out)
    return out


def keep_only(labels: Labels, names: frozenset[str]) -> Labels:
    return _project(labels, names, True)


def drop(labels: Labels, names: frozenset[str]) -> Labels:
    return _project(labels, names, False)


def with_label(labels: Labels, name: str, value: str) -> Labels:
    """`labels` with `name` set to `value`; an empty value removes the label."""
    rest = [p for p in labels if p[0] != name]
    if value != "":
        rest.append((name, value))
    return tuple(sorted(rest))


def metric_name(labels: Labels) -> str:
    return get(labels, NAME)


def format_labels(labels: Labels) -> str:
    """`name{a="b", c="d"}` as Prometheus prints a series."""
    name = metric_name(labels)
    rest = ", ".join(f"{k}={_quote(v)}" for k, v in labels if k != NAME)
    if name and not rest:
        return name
    return f"{name}{{{rest}}}"


def _quote(value: str) -> str:
    escaped = value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    return f'"{escaped}"'
