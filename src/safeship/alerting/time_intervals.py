"""Alertmanager's time intervals: when a route is muted (`mute_time_intervals`) or active
(`active_time_intervals`), evaluated on `now` in the interval's location.

Semantics of Alertmanager's timeinterval.ContainsTime: every field given must match
(times, weekdays, days of month, months, years), an absent field matches always; times are
[start, end) in minutes of the day, the others inclusive ranges; a negative day of month
counts from the month's end (-1 is the last day). Parsing lives with the config models
(alerting/am_config.py); this module only decides.
"""

from __future__ import annotations

import calendar
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, tzinfo


@dataclass(frozen=True)
class TimeInterval:
    times: tuple[tuple[int, int], ...] | None = None  # minutes of the day, [start, end)
    weekdays: tuple[tuple[int, int], ...] | None = None  # 0 = Sunday
    days_of_month: tuple[tuple[int, int], ...] | None = None
    months: tuple[tuple[int, int], ...] | None = None
    years: tuple[tuple[int, int], ...] | None = None
    location: tzinfo | None = None


def contains(interval: TimeInterval, now_s: float) -> bool:
    """True when the instant `now_s` (epoch seconds) lies in the interval."""
    at = datetime.fromtimestamp(now_s, interval.location or UTC)
    minute = at.hour * 60 + at.minute
    weekday = (at.weekday() + 1) % 7  # Python counts from Monday, Go from Sunday
    checks = (
        (interval.times, lambda r: r[0] <= minute < r[1]),
        (interval.days_of_month, lambda r: _in_month_days(r, at)),
        (interval.months, lambda r: r[0] <= at.month <= r[1]),
        (interval.weekdays, lambda r: r[0] <= weekday <= r[1]),
        (interval.years, lambda r: r[0] <= at.year <= r[1]),
    )
    return all(ranges is None or any(test(r) for r in ranges) for ranges, test in checks)


def _in_month_days(days: tuple[int, int], at: datetime) -> bool:
    length = calendar.monthrange(at.year, at.month)[1]
    begin = length + days[0] + 1 if days[0] < 0 else days[0]
    end = length + days[1] + 1 if days[1] < 0 else days[1]
    if begin > length:
        return False
    begin, end = max(-length, min(begin, length)), max(-length, min(end, length))
    return begin <= at.day <= end


def any_contains(intervals: Sequence[TimeInterval], now_s: float) -> bool:
    return any(contains(i, now_s) for i in intervals)
