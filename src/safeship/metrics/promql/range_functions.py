"""Functions over range vectors (rate, *_over_time, ...), vectorised over padded windows.

Each function walks the window columns in time order and combines them exactly as
Prometheus 2.x does sample by sample, so results match promtool bit for bit. Rows are
series; `counts` says how many leading cells of a row are real samples.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

import numpy as np

from safeship.core.labels import drop_names
from safeship.metrics.promql.errors import PromQLError
from safeship.metrics.promql.values import Floats, Vector, Windows

T = TypeVar("T")


def _rows(w: Windows) -> np.ndarray:
    return np.arange(len(w), dtype=np.int64)


def _last(w: Windows, back: int = 1) -> Floats:
    last: Floats = w.values[_rows(w), w.counts - back]
    return last


def _result(w: Windows, values: Floats, keep: np.ndarray | None = None) -> Vector:
    labels = drop_names(w.labels)
    vec = Vector(labels, values.astype(np.float64))
    return vec if keep is None else vec.take(keep)


def _silent(fn: Callable[[], T]) -> T:
    with np.errstate(all="ignore"):
        return fn()


def extrapolated_rate(w: Windows, *, counter: bool, per_second: bool) -> Vector:
    """rate / increase / delta: extrapolatedRate from Prometheus 2.x promql/functions.go."""
    if len(w) == 0:
        return Vector.empty()
    return _result(w, _silent(lambda: _extrapolate(w, counter, per_second)), w.counts >= 2)


def _extrapolate(w: Windows, counter: bool, per_second: bool) -> Floats:
    first, last = w.values[:, 0], _last(w)
    result = last - first
    if counter:
        result = _add_resets(w, result)
    t_first, t_last = w.times[:, 0], w.times[_rows(w), w.counts - 1]
    to_start = (t_first - (w.end_ms - w.range_ms)).astype(np.float64) / 1000
    to_end = (w.end_ms - t_last).astype(np.float64) / 1000
    sampled = (t_last - t_first).astype(np.float64) / 1000
    average = sampled / (w.counts - 1).astype(np.float64)
    if counter:
        to_zero = sampled * (first / result)
        to_start = np.where((result > 0) & (first >= 0) & (to_zero < to_start), to_zero, to_start)
    threshold = average * 1.1
    span = sampled + np.where(to_start < threshold, to_start, average / 2)
    span = span + np.where(to_end < threshold, to_end, average / 2)
    factor = span / sampled
    if per_second:
        factor = factor / (w.range_ms / 1000)
    out: Floats = result * factor
    return out


def _add_resets(w: Windows, result: Floats) -> Floats:
    """Add the value before each counter reset, column by column in time order as Prometheus
    does; only columns that hold a reset are visited (counters rarely reset)."""
    live = np.arange(1, w.values.shape[1])[None, :] < w.counts[:, None]
    resets = live & (w.values[:, 1:] < w.values[:, :-1])
    for k in np.flatnonzero(resets.any(axis=0)).tolist():
        result = np.where(resets[:, k], result + w.values[:, k], result)
    return result


def instant_rate(w: Windows, *, per_second: bool) -> Vector:
    """irate / idelta: from the last two samples only."""
    if len(w) == 0:
        return Vector.empty()
    last, prev = _last(w), _last(w, 2)
    t_gap = w.times[_rows(w), w.counts - 1] - w.times[_rows(w), np.maximum(w.counts - 2, 0)]
    result = last - prev
    if per_second:
        result = np.where(last < prev, last, result)
        result = _silent(lambda: result / (t_gap.astype(np.float64) / 1000))
    return _result(w, result, (w.counts >= 2) & (t_gap != 0))


def _regression(w: Windows, origin_ms: np.ndarray) -> tuple[Floats, Floats]:
    """Least-squares slope and intercept (Kahan-summed, as Prometheus does)."""
    sums = {k: np.zeros(len(w)) for k in ("x", "y", "xy", "x2")}
    comp = {k: np.zeros(len(w)) for k in sums}
    const_y = np.ones(len(w), dtype=bool)
    for k in range(w.values.shape[1]):
        live = k < w.counts
        x = (w.times[:, k] - origin_ms).astype(np.float64) / 1e3
        y = w.values[:, k]
        const_y &= ~live | (y == w.values[:, 0])
        for key, term in (("x", x), ("y", y), ("xy", x * y), ("x2", x * x)):
            new_sum, new_c = _kahan_inc(term, sums[key], comp[key])
            sums[key] = np.where(live, new_sum, sums[key])
            comp[key] = np.where(live, new_c, comp[key])
    n = w.counts.astype(np.float64)
    sx, sy, sxy, sx2 = (sums[k] + comp[k] for k in ("x", "y", "xy", "x2"))
    slope = (sxy - sx * sy / n) / (sx2 - sx * sx / n)
    intercept = sy / n - slope * sx / n
    first = w.values[:, 0]
    inf_y = np.isinf(first)
    slope = np.where(const_y, np.where(inf_y, np.nan, 0.0), slope)
    intercept = np.where(const_y, np.where(inf_y, np.nan, first), intercept)
    return slope, intercept


def _kahan_inc(inc: Floats, total: Floats, c: Floats) -> tuple[Floats, Floats]:
    t = total + inc
    big = np.abs(total) >= np.abs(inc)
    c = np.where(big, c + ((total - t) + inc), c + ((inc - t) + total))
    return t, c


def deriv(w: Windows) -> Vector:
    if len(w) == 0:
        return Vector.empty()
    slope, _ = _silent(lambda: _regression(w, w.times[:, 0]))
    return _result(w, slope, w.counts >= 2)


def predict_linear(w: Windows, seconds: float, eval_ms: int) -> Vector:
    if len(w) == 0:
        return Vector.empty()
    origin = np.full(len(w), eval_ms, dtype=np.int64)
    slope, intercept = _silent(lambda: _regression(w, origin))
    return _result(w, intercept + slope * seconds, w.counts >= 2)


def holt_winters(w: Windows, sf: float, tf: float) -> Vector:
    """Double exponential smoothing, as 2.42's funcHoltWinters computes it step by step
    (its factors are checked only once some series has samples, as in Prometheus)."""
    if len(w) == 0:
        return Vector.empty()
    for name, short, factor in (("smoothing", "sf", sf), ("trend", "tf", tf)):
        if factor <= 0 or factor >= 1:
            raise PromQLError(
                f"invalid {name} factor. Expected: 0 < {short} < 1, got: {_go_f(factor)}"
            )
    if w.values.shape[1] < 2:
        return Vector.empty()
    return _result(w, _silent(lambda: _smooth(w, sf, tf)), w.counts >= 2)


def _smooth(w: Windows, sf: float, tf: float) -> Floats:
    s0, s1 = np.zeros(len(w)), w.values[:, 0].copy()
    trend = w.values[:, 1] - w.values[:, 0]
    for i in range(1, w.values.shape[1]):
        live = i < w.counts
        x = sf * w.values[:, i]
        if i > 1:  # calcTrendValue(i-1, ...) keeps the initial trend at i-1 == 0
            trend = np.where(live, tf * (s1 - s0) + (1 - tf) * trend, trend)
        y = (1 - sf) * (s1 + trend)
        s0, s1 = np.where(live, s1, s0), np.where(live, x + y, s1)
    return s1


def _go_f(value: float) -> str:
    """Go's %f: six decimals, NaN and ±Inf spelled Go's way."""
    if np.isnan(value):
        return "NaN"
    if np.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    return f"{value:.6f}"


def _column_fold(w: Windows, step: Callable[[Floats, Floats], Floats]) -> Floats:
    acc = w.values[:, 0].copy()
    for k in range(1, w.values.shape[1]):
        live = k < w.counts
        acc = np.where(live, step(acc, w.values[:, k]), acc)
    return acc


def sum_over_time(w: Windows) -> Floats:
    total, comp = np.zeros(len(w)), np.zeros(len(w))
    for k in range(w.values.shape[1]):
        live = k < w.counts
        new_total, new_comp = _kahan_inc(w.values[:, k], total, comp)
        total, comp = np.where(live, new_total, total), np.where(live, new_comp, comp)
    return np.where(np.isinf(total), total, total + comp)


def avg_over_time(w: Windows) -> Floats:
    mean, comp = np.zeros(len(w)), np.zeros(len(w))
    columns = np.ascontiguousarray(w.values.T)  # one contiguous row per step
    ragged = bool((w.counts < columns.shape[0]).any())
    for k, v in enumerate(columns):
        count = float(k + 1)
        new_mean, new_comp = _kahan_inc(v / count - mean / count, mean, comp)
        take = _avg_takes(mean, v, live=k < w.counts if ragged else None)
        mean = new_mean if take is None else np.where(take, new_mean, mean)
        comp = new_comp if take is None else np.where(take, new_comp, comp)
    return np.where(np.isinf(mean), mean, mean + comp)


def _avg_takes(mean: Floats, v: Floats, *, live: np.ndarray | None) -> np.ndarray | None:
    """Which rows take the next mean (None: all of them, the common case, skips the masks)."""
    if not np.isinf(mean).any():
        return live
    # Once the mean is infinite only a NaN or an opposite infinity can change it.
    stuck: np.ndarray = np.isinf(mean) & ~((np.isinf(v) & ((mean > 0) != (v > 0))) | np.isnan(v))
    return ~stuck if live is None else live & ~stuck


def min_over_time(w: Windows) -> Floats:
    return _column_fold(w, lambda a, v: np.where((v < a) | np.isnan(a), v, a))


def max_over_time(w: Windows) -> Floats:
    return _column_fold(w, lambda a, v: np.where((v > a) | np.isnan(a), v, a))


def _variance(w: Windows) -> Floats:
    mean, c_mean = np.zeros(len(w)), np.zeros(len(w))
    aux, c_aux = np.zeros(len(w)), np.zeros(len(w))
    for k in range(w.values.shape[1]):
        live = k < w.counts
        v = w.values[:, k]
        delta = v - (mean + c_mean)
        new_mean, new_c_mean = _kahan_inc(delta / float(k + 1), mean, c_mean)
        new_aux, new_c_aux = _kahan_inc(delta * (v - (new_mean + new_c_mean)), aux, c_aux)
        mean, c_mean = np.where(live, new_mean, mean), np.where(live, new_c_mean, c_mean)
        aux, c_aux = np.where(live, new_aux, aux), np.where(live, new_c_aux, c_aux)
    return (aux + c_aux) / w.counts.astype(np.float64)


def stdvar_over_time(w: Windows) -> Floats:
    return _variance(w)


def stddev_over_time(w: Windows) -> Floats:
    return np.sqrt(_variance(w))


def changes(w: Windows) -> Floats:
    return _count_pairs(w, lambda prev, cur: (cur != prev) & ~(np.isnan(cur) & np.isnan(prev)))


def resets(w: Windows) -> Floats:
    return _count_pairs(w, lambda prev, cur: cur < prev)


def _count_pairs(w: Windows, hit: Callable[[Floats, Floats], np.ndarray]) -> Floats:
    total = np.zeros(len(w))
    for k in range(1, w.values.shape[1]):
        live = k < w.counts
        total += np.where(live & hit(w.values[:, k - 1], w.values[:, k]), 1.0, 0.0)
    return total


def quantile_over_time(w: Windows, q: float) -> Floats:
    out = np.empty(len(w))
    for row in range(len(w)):
        out[row] = quantile(q, w.values[row, : w.counts[row]])
    return out


def quantile(q: float, values: Floats) -> float:
    """Prometheus's quantile: linear interpolation between closest ranks."""
    if values.size == 0 or np.isnan(q):
        return float("nan")
    if q < 0:
        return float("-inf")
    if q > 1:
        return float("inf")
    ordered = np.sort(values)
    n = float(ordered.size)
    rank = q * (n - 1)
    lower = max(0.0, float(np.floor(rank)))
    upper = min(n - 1, lower + 1)
    weight = rank - float(np.floor(rank))
    return float(ordered[int(lower)] * (1 - weight) + ordered[int(upper)] * weight)


def over_time(name: str, w: Windows) -> Vector:
    """The plain `<agg>_over_time` family, by name."""
    if len(w) == 0:
        return Vector.empty()
    fold = _OVER_TIME[name]
    result = _silent(lambda: fold(w))
    if name == "last_over_time":
        return Vector(list(w.labels), result)
    return _result(w, result)


_OVER_TIME: dict[str, Callable[[Windows], Floats]] = {
    "sum_over_time": sum_over_time,
    "avg_over_time": avg_over_time,
    "min_over_time": min_over_time,
    "max_over_time": max_over_time,
    "count_over_time": lambda w: w.counts.astype(np.float64),
    "last_over_time": lambda w: _last(w).copy(),
    "present_over_time": lambda w: np.ones(len(w)),
    "stddev_over_time": stddev_over_time,
    "stdvar_over_time": stdvar_over_time,
    "changes": changes,
    "resets": resets,
}
OVER_TIME_NAMES = frozenset(_OVER_TIME)
