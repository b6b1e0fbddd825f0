"""Element-wise math over instant vectors: abs … sgn, the trigonometric family, rounding
and clamping. Every one drops the metric name, as Prometheus's simpleFunc does."""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

from safeship.core.labels import drop_names
from safeship.metrics.promql import go_math
from safeship.metrics.promql.values import Floats, Vector


def _each(f: Callable[[float], float]) -> Callable[[Floats], Floats]:
    """Lift a scalar function sample by sample: Go's own code (go_math) where it differs
    from libm, else Python's math, whose libm results numpy's SIMD kernels may not equal."""

    def run(values: Floats) -> Floats:
        return np.asarray([_guarded(f, v) for v in values.tolist()], dtype=np.float64)

    return run


def _guarded(f: Callable[[float], float], v: float) -> float:
    """Go returns NaN (or ±Inf) where Python's math raises on a domain or range error."""
    try:
        return f(v)
    except ValueError:
        return math.nan
    except OverflowError:
        return math.inf if v > 0 else -math.inf


def _atanh(v: float) -> float:
    if v in (1.0, -1.0):
        return math.copysign(math.inf, v)
    return math.atanh(v)


_MATH: dict[str, Callable[[Floats], Floats]] = {
    "abs": np.abs,
    "ceil": np.ceil,
    "floor": np.floor,
    "exp": np.exp,
    "sqrt": np.sqrt,
    "ln": np.log,
    "log2": np.log2,
    "log10": np.log10,
    "sgn": lambda v: np.where(v < 0, -1.0, np.where(v > 0, 1.0, v)),
    "sin": _each(go_math.sin),
    "cos": _each(go_math.cos),
    "tan": _each(go_math.tan),
    "asin": _each(go_math.asin),
    "acos": _each(go_math.acos),
    "atan": _each(go_math.atan),
    "sinh": _each(go_math.sinh),
    "cosh": _each(go_math.cosh),
    "tanh": _each(math.tanh),
    "asinh": _each(math.asinh),
    "acosh": _each(math.acosh),
    "atanh": _each(_atanh),
    "rad": lambda v: v * math.pi / 180,  # evaluated left to right, as Go's v * Pi / 180
    "deg": lambda v: v * 180 / math.pi,
}
MATH_NAMES = frozenset(_MATH)


def mapped(vec: Vector, values: Floats) -> Vector:
    return Vector(drop_names(vec.labels), values)


def simple(name: str, vec: Vector) -> Vector:
    with np.errstate(all="ignore"):
        return mapped(vec, _MATH[name](vec.values))


def round_to(vec: Vector, nearest: float) -> Vector:
    inverse = 1.0 / nearest if nearest != 0 else math.copysign(math.inf, nearest)
    with np.errstate(all="ignore"):
        return mapped(vec, np.floor(vec.values * inverse + 0.5) / inverse)


def clamp(vec: Vector, low: float, high: float) -> Vector:
    if high < low:
        return Vector.empty()
    return mapped(vec, np.maximum(np.full_like(vec.values, low), np.minimum(vec.values, high)))


def clamp_min(vec: Vector, low: float) -> Vector:
    # NaN in, NaN out, like Go's math.Max.
    return mapped(vec, np.maximum(vec.values, np.full_like(vec.values, low)))


def clamp_max(vec: Vector, high: float) -> Vector:
    return mapped(vec, np.minimum(vec.values, np.full_like(vec.values, high)))
