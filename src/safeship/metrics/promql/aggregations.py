"""Aggregation operators (sum, avg, topk, quantile, count_values, ...) with by / without.

Series are folded into their group in input order with the same arithmetic as Prometheus
2.x (running sums, incremental means, Welford variance), so float results match exactly.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np

from safeship.core.labels import NAME, Labels, with_label
from safeship.metrics.promql.errors import PromQLError
from safeship.metrics.promql.range_functions import quantile
from safeship.metrics.promql.values import Floats, Ints, Vector


def group_keys(labels: list[Labels], names: list[str], *, without: bool) -> list[Labels]:
    # Projected inline rather than through the per-label-set memo: on a first sight of the
    # series the memo's insert costs three times the projection itself.
    if without:
        dropped = frozenset([*names, NAME])
        return [tuple([p for p in x if p[0] not in dropped]) for x in labels]
    kept = frozenset(names)
    return [tuple([p for p in x if p[0] in kept]) for x in labels]


_GROUPS: dict[tuple[int, tuple[str, ...], bool], tuple[list[Labels], Any]] = {}


def grouping(labels: list[Labels], names: list[str], *, without: bool) -> tuple[list[Labels], Any]:
    """(group label sets, group id per series, keys); memoised per label list object."""
    memo_key = (id(labels), tuple(names), without)
    hit = _GROUPS.get(memo_key)
    if hit is not None and hit[1][0] is labels:
        return hit[0], hit[1][1:]
    keys = group_keys(labels, names, without=without)
    groups, ids = _group_ids(keys)
    if len(_GROUPS) >= 10_000:
        _GROUPS.clear()
    _GROUPS[memo_key] = (groups, (labels, ids, keys))
    return groups, (ids, keys)


def _group_ids(keys: list[Labels]) -> tuple[list[Labels], Ints]:
    index: dict[Labels, int] = {}
    ids = np.asarray([index.setdefault(k, len(index)) for k in keys], dtype=np.int64)
    return list(index), ids


def aggregate(
    op: str, vec: Vector, *, names: list[str], without: bool, param: float | str | None
) -> Vector:
    """One aggregation; `param` is k, q or the count_values label name."""
    groups, (ids, keys) = grouping(vec.labels, names, without=without)
    if op in ("topk", "bottomk"):
        return _top(vec, keys, int(_number(param)), largest=op == "topk")
    if op == "count_values":
        return _count_values(vec, keys, str(param))
    if op == "quantile":
        q = _number(param)
        return Vector(
            groups, np.asarray([quantile(q, vec.values[ids == g]) for g in range(len(groups))])
        )
    with np.errstate(all="ignore"):
        return Vector(groups, _FOLDS[op](vec.values, ids, len(groups)))


def _number(param: float | str | None) -> float:
    if not isinstance(param, float | int):
        raise PromQLError(f"expected a number parameter, found {param!r}")
    return float(param)


def _count(values: Floats, ids: Ints, n: int) -> Floats:
    return np.bincount(ids, minlength=n).astype(np.float64)


def _members(values: Floats, ids: Ints, n: int) -> list[list[float]]:
    groups: list[list[float]] = [[] for _ in range(n)]
    for g, v in zip(ids.tolist(), values.tolist(), strict=True):
        groups[g].append(v)
    return groups


def _fold(fold: Callable[[list[float]], float]) -> Callable[[Floats, Ints, int], Floats]:
    """Lift a per-group fold over plain floats (exact, in input order) to all groups."""

    def run(values: Floats, ids: Ints, n: int) -> Floats:
        groups = _members(values, ids, n)
        return np.asarray([fold(g) for g in groups], dtype=np.float64)

    return run


def mean(xs: list[float]) -> float:
    avg, count = xs[0], 1.0
    for x in xs[1:]:
        count += 1
        if math.isinf(avg) and not (math.isnan(x) or (math.isinf(x) and (avg > 0) != (x > 0))):
            continue  # an infinite mean stays unless a NaN or the opposite infinity arrives
        avg += x / count - avg / count
    return avg


def variance(xs: list[float]) -> float:
    avg, aux, count = 0.0, 0.0, 0.0
    for x in xs:
        count += 1
        delta = x - avg
        avg += delta / count
        aux += delta * (x - avg)
    return aux / count


def _sum(values: Floats, ids: Ints, n: int) -> Floats:
    out = np.zeros(n)
    np.add.at(out, ids, values)  # unbuffered, in input order: the same running sum as Go
    return out


def _fmax(values: Floats, ids: Ints, n: int) -> Floats:
    # fmax skips NaN like Go's `value < v || IsNaN(value)`; all-NaN groups stay NaN.
    out = np.full(n, np.nan)
    np.fmax.at(out, ids, values)
    return out


def _fmin(values: Floats, ids: Ints, n: int) -> Floats:
    out = np.full(n, np.nan)
    np.fmin.at(out, ids, values)
    return out


_FOLDS = {
    "sum": _sum,
    "count": _count,
    "avg": _fold(mean),
    "min": _fmin,
    "max": _fmax,
    "group": lambda v, i, n: np.ones(n),
    "stdvar": _fold(variance),
    "stddev": _fold(lambda xs: math.sqrt(variance(xs))),
}


def _top(vec: Vector, keys: list[Labels], k: int, *, largest: bool) -> Vector:
    members: dict[Labels, list[int]] = {}
    for i, key in enumerate(keys):
        members.setdefault(key, []).append(i)
    chosen: list[int] = []
    for idx in members.values():
        chosen.extend(
            sorted(idx, key=lambda i: _top_key(float(vec.values[i]), largest))[: max(k, 0)]
        )
    return vec.take(np.asarray(chosen, dtype=np.int64))


def _top_key(value: float, largest: bool) -> float:
    if math.isnan(value):
        return math.inf  # NaN is never preferred
    return -value if largest else value


def _count_values(vec: Vector, keys: list[Labels], label: str) -> Vector:
    counts: dict[Labels, float] = {}
    for key, value in zip(keys, vec.values.tolist(), strict=True):
        out = with_label(key, label, format_go_float(value))
        counts[out] = counts.get(out, 0.0) + 1
    return Vector(list(counts), np.asarray(list(counts.values()), dtype=np.float64))


def format_go_float(value: float) -> str:
    """strconv.FormatFloat(v, 'f', -1, 64): shortest digits, no exponent."""
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    text = np.format_float_positional(value, trim="-")
    return text
