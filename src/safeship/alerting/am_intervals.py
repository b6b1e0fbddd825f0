"""`time_intervals` (and the deprecated `mute_time_intervals`) of an Alertmanager config,
checked as Alertmanager's timeinterval package does, compiled to alerting/time_intervals.py."""

from __future__ import annotations

import re
from datetime import datetime, tzinfo
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, model_validator

from safeship.alerting.am_base import AmModel, Text
from safeship.alerting.time_intervals import TimeInterval

_WEEKDAYS = ("sunday", "monday", "tuesday", "wednesday", "thursday", "friday", "saturday")
_MONTHS = ("january", "february", "march", "april", "may", "june", "july", "august",
           "september", "october", "november", "december")  # fmt: skip
_CLOCK = re.compile(r"(?:[01][0-9]|2[0-3]):[0-5][0-9]|24:00")


class TimeRangeConfig(AmModel):
    start_time: str
    end_time: str

    @model_validator(mode="after")
    def _ordered(self) -> TimeRangeConfig:
        start, end = _minutes(self.start_time), _minutes(self.end_time)
        if start >= end:
            raise ValueError("expected start_time before end_time, found it equal or after")
        return self

    def minutes(self) -> tuple[int, int]:
        return _minutes(self.start_time), _minutes(self.end_time)


def _minutes(text: str) -> int:
    if not _CLOCK.fullmatch(text):
        raise ValueError(f"expected a time of day like '09:30', found {text!r}")
    hours, minutes = text.split(":")
    return int(hours) * 60 + int(minutes)


def _range(text: str, member: Any) -> tuple[int, int]:
    lowered = text.lower()
    parts = lowered.split(":") if ":" in lowered else [lowered, lowered]
    if len(parts) != 2:
        raise ValueError(f"expected a range like 'a:b', found {text!r}")
    return member(parts[0]), member(parts[1])


def _weekday(text: str) -> int:
    if text not in _WEEKDAYS:
        raise ValueError(f"expected a weekday like 'monday', found {text!r}")
    return _WEEKDAYS.index(text)


def _month(text: str) -> int:
    return _MONTHS.index(text) + 1 if text in _MONTHS else _number(text)


def _number(text: str) -> int:
    if not re.fullmatch(r"[+-]?\d+", text):
        raise ValueError(f"expected a number, found {text!r}")
    return int(text)


class TimeIntervalConfig(AmModel):
    times: list[TimeRangeConfig] | None = None
    weekdays: list[Text] | None = None
    days_of_month: list[Text] | None = None
    months: list[Text] | None = None
    years: list[Text] | None = None
    location: str | None = None

    @model_validator(mode="after")
    def _valid(self) -> TimeIntervalConfig:
        self.compile()
        return self

    def compile(self) -> TimeInterval:
        """The pure form (alerting/time_intervals.py); ValueError when a range is invalid."""
        weekdays = [_ordered(_range(w, _weekday), "weekday") for w in self.weekdays or []]
        months = [_ordered(_range(m, _month), "month") for m in self.months or []]
        for begin, end in months:
            if not (1 <= begin <= 12 and 1 <= end <= 12):
                raise ValueError(f"expected months 1 to 12, found {begin}:{end}")
        years = [_ordered(_range(y, _number), "year") for y in self.years or []]
        days = [_day_range(d) for d in self.days_of_month or []]
        return TimeInterval(
            times=None if self.times is None else tuple(t.minutes() for t in self.times),
            weekdays=None if self.weekdays is None else tuple(weekdays),
            days_of_month=None if self.days_of_month is None else tuple(days),
            months=None if self.months is None else tuple(months),
            years=None if self.years is None else tuple(years),
            location=None if self.location is None else _location(self.location),
        )


def _ordered(pair: tuple[int, int], what: str) -> tuple[int, int]:
    if pair[0] > pair[1]:
        raise ValueError(f"expected the start {what} before the end, found {pair[0]}:{pair[1]}")
    return pair


def _day_range(text: str) -> tuple[int, int]:
    begin, end = _range(text, _number)
    for day in (begin, end):
        if day == 0 or not -31 <= day <= 31:
            raise ValueError(f"expected a day of the month, found {day}")
    if begin < 0 < end:
        raise ValueError("expected a negative end day with a negative start day")
    if (28 + begin if begin < 0 else begin) > (28 + end if end < 0 else end):
        raise ValueError(f"expected the start day before the end, found {text!r}")
    return begin, end


def _location(name: str) -> tzinfo:
    if name == "Local":
        found = datetime.now().astimezone().tzinfo
        assert found is not None
        return found
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"expected a time zone like 'Europe/Paris', found {name!r}") from None


class NamedTimeIntervals(AmModel):
    name: str = Field(min_length=1)
    time_intervals: list[TimeIntervalConfig] = Field(default_factory=list)

    def compile(self) -> tuple[TimeInterval, ...]:
        return tuple(t.compile() for t in self.time_intervals)
