"""Date functions (year, month, day_of_month, ...): Go's calendar arithmetic, ported.

Prometheus turns each value into `time.Unix(int64(v), 0).UTC()`. Go's float-to-int64
conversion yields the minimum int64 for NaN, ±Inf and out-of-range values on amd64, and
Go's date arithmetic then wraps around in uint64; porting that arithmetic (rather than
calling `datetime`, which refuses such instants) gives the same answers for every input.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

from safeship.metrics.promql.functions_math import mapped
from safeship.metrics.promql.values import Vector

_U64 = 1 << 64
_MIN_I64 = -(1 << 63)
_DAY = 86_400
_UNIX_TO_INTERNAL = (1969 * 365 + 1969 // 4 - 1969 // 100 + 1969 // 400) * _DAY
_INTERNAL_TO_ABSOLUTE = 292_277_022_400 * 31_556_952  # -(absoluteZeroYear - 1) * 365.2425 days
_ABSOLUTE_ZERO_YEAR = -292_277_022_399
_DAYS_400, _DAYS_100, _DAYS_4 = 365 * 400 + 97, 365 * 100 + 24, 365 * 4 + 1
_DAYS_BEFORE = (0, 31, 59, 90, 120, 151, 181, 212, 243, 273, 304, 334, 365)


def _go_int64(value: float) -> int:
    """Go's int64(float64) on amd64: truncation, or the minimum int64 when unrepresentable."""
    if math.isnan(value) or math.isinf(value) or not -(2.0**63) <= value < 2.0**63:
        return _MIN_I64
    return int(value)


def _wrap_i64(n: int) -> int:
    n %= _U64
    return n - _U64 if n >= 1 << 63 else n


def _absolute(unix_seconds: int) -> int:
    """Go's Time.abs(): seconds since the absolute zero year, as a uint64 (Go's int64
    additions wrap around, which arithmetic modulo 2**64 reproduces)."""
    return (unix_seconds + _UNIX_TO_INTERNAL + _INTERNAL_TO_ABSOLUTE) % _U64


def _is_leap(year: int) -> bool:
    return year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)


def _year_yday(abs_seconds: int) -> tuple[int, int]:
    """Go's absDate without the month: the year and the 0-based day of the year."""
    d = abs_seconds // _DAY
    n = d // _DAYS_400
    y = 400 * n
    d -= _DAYS_400 * n
    n = d // _DAYS_100
    n -= n >> 2
    y += 100 * n
    d -= _DAYS_100 * n
    n = d // _DAYS_4
    y += 4 * n
    d -= _DAYS_4 * n
    n = d // 365
    n -= n >> 2
    y += n
    d -= 365 * n
    return _wrap_i64(y + _ABSOLUTE_ZERO_YEAR), d


def _month_day(year: int, yday: int) -> tuple[int, int]:
    day = yday
    if _is_leap(year):
        if day == 31 + 29 - 1:
            return 2, 29
        if day > 31 + 29 - 1:
            day -= 1
    month = day // 31
    end = _DAYS_BEFORE[month + 1]
    if day >= end:
        month += 1
        begin = end
    else:
        begin = _DAYS_BEFORE[month]
    return month + 1, day - begin + 1


def _year(a: int) -> float:
    return float(_year_yday(a)[0])


def _month(a: int) -> float:
    return float(_month_day(*_year_yday(a))[0])


def _day_of_month(a: int) -> float:
    return float(_month_day(*_year_yday(a))[1])


def _day_of_year(a: int) -> float:
    return float(_year_yday(a)[1] + 1)


def _day_of_week(a: int) -> float:
    return float(((a + _DAY) % (7 * _DAY)) // _DAY)  # absolute day 0 was a Monday


def _days_in_month(a: int) -> float:
    year, yday = _year_yday(a)
    month = _month_day(year, yday)[0]
    if month == 2 and _is_leap(year):
        return 29.0
    return float(_DAYS_BEFORE[month] - _DAYS_BEFORE[month - 1])


_DATE: dict[str, Callable[[int], float]] = {
    "year": _year,
    "month": _month,
    "day_of_month": _day_of_month,
    "day_of_year": _day_of_year,
    "day_of_week": _day_of_week,
    "days_in_month": _days_in_month,
    "hour": lambda a: float((a % _DAY) // 3600),
    "minute": lambda a: float((a % 3600) // 60),
}
DATE_NAMES = frozenset(_DATE)


def date(name: str, vec: Vector | None, t_ms: int) -> Vector:
    """`name(v)` per sample, or `name()` of the evaluation time (a label-less sample)."""
    f = _DATE[name]
    if vec is None:
        return Vector([()], np.asarray([f(_absolute(_go_div(t_ms, 1000)))]))
    values = [f(_absolute(_go_int64(v))) for v in vec.values.tolist()]
    return mapped(vec, np.asarray(values, dtype=np.float64))


def _go_div(a: int, b: int) -> int:
    """Go's integer division truncates toward zero (evaluation times may be negative)."""
    q = abs(a) // abs(b)
    return q if (a >= 0) == (b >= 0) else -q
