"""Function calls: argument checking and dispatch to the function modules, for exactly
the functions Prometheus 2.42 knows (promql-parser also parses later ones)."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from safeship.core.labels import drop_name
from safeship.metrics.promql import functions as fn
from safeship.metrics.promql import functions_math as fm
from safeship.metrics.promql import functions_time as ft
from safeship.metrics.promql import range_functions as rf
from safeship.metrics.promql.errors import PromQLError
from safeship.metrics.promql.values import Scalar, String, Value, Vector, Windows, unique

Args = list[Value | Windows]
Call = Callable[[Args, int], Value]

# promql-parser knows holt_winters only by its later name; engine.parse renames it.
HOLT_WINTERS = "double_exponential_smoothing"


def _vec(arg: Value | Windows) -> Vector:
    if not isinstance(arg, Vector):
        raise PromQLError(f"expected an instant vector argument, found {type(arg).__name__}")
    return arg


def _win(arg: Value | Windows) -> Windows:
    if not isinstance(arg, Windows):
        raise PromQLError(f"expected a range vector argument, found {type(arg).__name__}")
    return arg


def _num(arg: Value | Windows) -> float:
    if not isinstance(arg, Scalar):
        raise PromQLError(f"expected a scalar argument, found {type(arg).__name__}")
    return arg.value


def _str(arg: Value | Windows) -> str:
    if not isinstance(arg, String):
        raise PromQLError(f"expected a string argument, found {type(arg).__name__}")
    return arg.value


def _scalar_of(vec: Vector) -> Scalar:
    return Scalar(float(vec.values[0]) if len(vec) == 1 else float("nan"))


def _native_only(arg: Value | Windows) -> Vector:
    """histogram_count/sum/fraction read native histograms only; float samples are
    skipped, and the store holds floats only."""
    _vec(arg)
    return Vector.empty()


CALLS: dict[str, Call] = {
    "rate": lambda a, t: rf.extrapolated_rate(_win(a[0]), counter=True, per_second=True),
    "increase": lambda a, t: rf.extrapolated_rate(_win(a[0]), counter=True, per_second=False),
    "delta": lambda a, t: rf.extrapolated_rate(_win(a[0]), counter=False, per_second=False),
    "irate": lambda a, t: rf.instant_rate(_win(a[0]), per_second=True),
    "idelta": lambda a, t: rf.instant_rate(_win(a[0]), per_second=False),
    "deriv": lambda a, t: rf.deriv(_win(a[0])),
    "predict_linear": lambda a, t: rf.predict_linear(_win(a[0]), _num(a[1]), t),
    HOLT_WINTERS: lambda a, t: rf.holt_winters(_win(a[0]), _num(a[1]), _num(a[2])),
    "quantile_over_time": lambda a, t: _quantile_over_time(_num(a[0]), _win(a[1])),
    "histogram_quantile": lambda a, t: fn.histogram_quantile(_num(a[0]), _vec(a[1])),
    "histogram_count": lambda a, t: _native_only(a[0]),
    "histogram_sum": lambda a, t: _native_only(a[0]),
    "histogram_fraction": lambda a, t: _native_only(a[2]),
    "round": lambda a, t: fm.round_to(_vec(a[0]), _num(a[1]) if len(a) > 1 else 1.0),
    "clamp": lambda a, t: fm.clamp(_vec(a[0]), _num(a[1]), _num(a[2])),
    "clamp_min": lambda a, t: fm.clamp_min(_vec(a[0]), _num(a[1])),
    "clamp_max": lambda a, t: fm.clamp_max(_vec(a[0]), _num(a[1])),
    "sort": lambda a, t: fn.sort(_vec(a[0]), descending=False),
    "sort_desc": lambda a, t: fn.sort(_vec(a[0]), descending=True),
    "label_replace": lambda a, t: fn.label_replace(
        _vec(a[0]), _str(a[1]), _str(a[2]), _str(a[3]), _str(a[4])
    ),
    "label_join": lambda a, t: fn.label_join(
        _vec(a[0]), _str(a[1]), _str(a[2]), [_str(x) for x in a[3:]]
    ),
    "scalar": lambda a, t: _scalar_of(_vec(a[0])),
    "vector": lambda a, t: Vector([()], np.asarray([_num(a[0])])),
    "time": lambda a, t: Scalar(t / 1000),
    "pi": lambda a, t: Scalar(float(np.pi)),
}
for _name in fm.MATH_NAMES:
    CALLS[_name] = lambda a, t, _n=_name: fm.simple(_n, _vec(a[0]))  # type: ignore[misc]
for _name in rf.OVER_TIME_NAMES:
    CALLS[_name] = lambda a, t, _n=_name: rf.over_time(_n, _win(a[0]))  # type: ignore[misc]
for _name in ft.DATE_NAMES:
    CALLS[_name] = lambda a, t, _n=_name: ft.date(  # type: ignore[misc]
        _n, _vec(a[0]) if a else None, t
    )
# Evaluated by the engine itself (they need the argument's syntax, not only its value).
ENGINE_CALLS = frozenset({"absent", "absent_over_time", "timestamp"})
KNOWN = frozenset(CALLS) | ENGINE_CALLS


def _quantile_over_time(q: float, w: Windows) -> Vector:
    if len(w) == 0:
        return Vector.empty()
    values = rf.quantile_over_time(w, q)
    return Vector([drop_name(x) for x in w.labels], values)


def call(name: str, args: Args, t_ms: int) -> Value:
    """The function's value; a vector result with two equal label sets is an error."""
    impl = CALLS.get(name)
    if impl is None:
        raise PromQLError(f'unknown function with name "{name}"')
    value = impl(args, t_ms)
    return unique(value) if isinstance(value, Vector) else value
