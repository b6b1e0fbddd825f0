"""Functions over instant vectors: labels, sorting, timestamps, histograms (math is in
functions_math, dates in functions_time)."""

from __future__ import annotations

import math
import re

import numpy as np

from safeship.core.labels import Labels, drop_name, get, with_label
from safeship.core.regex import Regex, RegexError, compile_anchored
from safeship.metrics.promql.errors import PromQLError
from safeship.metrics.promql.functions_math import mapped
from safeship.metrics.promql.values import Vector

_LABEL_NAME = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")
_EXPAND = re.compile(r"\$(?:\$|\{(\w+)\}|(\w+))")


def sort(vec: Vector, *, descending: bool) -> Vector:
    # NaNs go last either way, as Prometheus's vectorByValueHeap orders them.
    key = -vec.values if descending else vec.values
    order = np.argsort(np.where(np.isnan(key), np.inf, key), kind="stable")
    nan = np.isnan(vec.values[order])
    return vec.take(np.concatenate([order[~nan], order[nan]]).astype(np.int64))


def timestamps(vec: Vector, times_ms: np.ndarray) -> Vector:
    return mapped(vec, times_ms.astype(np.float64) / 1000)


def label_replace(vec: Vector, dst: str, replacement: str, src: str, regex: str) -> Vector:
    try:
        pattern = compile_anchored(regex)
    except RegexError:
        raise PromQLError(f"invalid regular expression in label_replace(): {regex}") from None
    if not _LABEL_NAME.match(dst):
        raise PromQLError(f"invalid destination label name in label_replace(): {dst}")
    out = []
    for labels in vec.labels:
        found = pattern.groups(get(labels, src))
        if found is None:
            out.append(labels)
        else:
            out.append(with_label(labels, dst, _go_expand(replacement, pattern, found)))
    return Vector(out, vec.values)


def _go_expand(template: str, pattern: Regex, found: list[str | None]) -> str:
    """Go's Regexp.Expand: $1, ${1}, $name, $$; unknown groups expand to nothing."""

    def one(m: re.Match[str]) -> str:
        if m.group(0) == "$$":
            return "$"
        ref = m.group(1) or m.group(2)
        index = int(ref) if ref.isdigit() else pattern.group_index().get(ref, len(found))
        return (found[index] or "") if index < len(found) else ""

    return _EXPAND.sub(one, template)


def label_join(vec: Vector, dst: str, sep: str, sources: list[str]) -> Vector:
    for source in sources:
        if not _LABEL_NAME.match(source):
            raise PromQLError(f"invalid source label name in label_join(): {source}")
    if not _LABEL_NAME.match(dst):
        raise PromQLError(f"invalid destination label name in label_join(): {dst}")
    out = [with_label(x, dst, sep.join(get(x, s) for s in sources)) for x in vec.labels]
    return Vector(out, vec.values)


def histogram_quantile(q: float, vec: Vector) -> Vector:
    """Quantiles from classic `le` buckets, grouped by all other labels, the metric name
    included (two histograms that differ only by name give two results with the same labels,
    which the caller's duplicate check rejects, as Prometheus does)."""
    groups: dict[Labels, list[tuple[float, float]]] = {}
    for labels, value in vec.samples():
        bound = _parse_le(get(labels, "le"))
        if bound is None:
            continue
        key = tuple(p for p in labels if p[0] != "le")
        groups.setdefault(key, []).append((bound, value))
    keys = list(groups)
    values = np.asarray([bucket_quantile(q, groups[k]) for k in keys], dtype=np.float64)
    return Vector([drop_name(k) for k in keys], values)


def _parse_le(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        return None


def bucket_quantile(q: float, buckets: list[tuple[float, float]]) -> float:
    """Prometheus's bucketQuantile: linear interpolation inside the bucket holding the rank."""
    if math.isnan(q):
        return math.nan
    if q < 0:
        return -math.inf
    if q > 1:
        return math.inf
    ordered = _monotonic(_coalesce(sorted(buckets, key=lambda b: b[0])))
    if not ordered or not math.isinf(ordered[-1][0]) or ordered[-1][0] < 0 or len(ordered) < 2:
        return math.nan
    observations = ordered[-1][1]
    if observations == 0:
        return math.nan
    rank = q * observations
    b = next((i for i in range(len(ordered) - 1) if ordered[i][1] >= rank), len(ordered) - 1)
    if b == len(ordered) - 1:
        return ordered[-2][0]
    if b == 0 and ordered[0][0] <= 0:
        return ordered[0][0]
    start, end, count = 0.0, ordered[b][0], ordered[b][1]
    if b > 0:
        start = ordered[b - 1][0]
        count -= ordered[b - 1][1]
        rank -= ordered[b - 1][1]
    return start + (end - start) * (rank / count)


def _coalesce(buckets: list[tuple[float, float]]) -> list[tuple[float, float]]:
    out: list[tuple[float, float]] = []
    for bound, count in buckets:
        if out and out[-1][0] == bound:
            out[-1] = (bound, out[-1][1] + count)
        else:
            out.append((bound, count))
    return out


def _monotonic(buckets: list[tuple[float, float]]) -> list[tuple[float, float]]:
    highest, out = -math.inf, []
    for bound, count in buckets:
        highest = max(highest, count)
        out.append((bound, highest if count < highest else count))
    return out
