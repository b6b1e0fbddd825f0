"""Time intervals: Alertmanager's timeinterval_test.go cases (valid and invalid instants)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pytest

from safeship.alerting.am_intervals import TimeIntervalConfig
from safeship.alerting.time_intervals import TimeInterval, contains

CASES: list[tuple[dict[str, Any], list[str], list[str]]] = [
    ({}, ["02 Jan 06 15:04 +0000", "03 Jan 07 10:04 +0000"], []),
    (
        {"times": [{"start_time": "09:00", "end_time": "17:00"}], "weekdays": ["monday:friday"]},
        ["04 May 20 15:04 +0000", "05 May 20 10:04 +0000", "09 Jun 20 09:04 +0000"],
        ["03 May 20 15:04 +0000", "04 May 20 08:59 +0000", "05 May 20 05:00 +0000"],
    ),
    (
        {"days_of_month": ["4:6"], "months": ["april"], "years": ["2020"]},
        ["04 Apr 20 15:04 +0000", "05 Apr 20 00:00 +0000", "06 Apr 20 23:05 +0000"],
        ["03 May 18 15:04 +0000", "03 Apr 20 23:59 +0000", "04 Jun 20 23:59 +0000",
         "06 Apr 19 23:59 +0000", "07 Apr 20 00:00 +0000"],
    ),
    (
        {"days_of_month": ["-3:-1"]},
        ["31 Jan 20 15:04 +0000", "30 Jan 20 15:04 +0000", "29 Jan 20 15:04 +0000",
         "30 Jun 20 00:00 +0000", "29 Feb 20 23:05 +0000"],
        ["03 May 18 15:04 +0000", "27 Jan 20 15:04 +0000", "03 Apr 20 23:59 +0000",
         "01 Mar 20 00:00 +0000"],
    ),
    (
        {"times": [{"start_time": "09:00", "end_time": "17:00"}], "weekdays": ["monday:friday"],
         "location": "Australia/Sydney"},
        ["06 Apr 21 13:00 +1000"],
        ["06 Apr 21 13:00 +0000"],
    ),
    (
        {"times": [{"start_time": "09:00", "end_time": "17:00"}], "weekdays": ["monday:friday"],
         "months": ["november"], "location": "Australia/Sydney"},
        ["01 Nov 21 09:00 +1100", "31 Oct 21 22:00 +0000"],
        ["31 Oct 21 21:00 +0000"],
    ),
]  # fmt: skip


def _instant(text: str) -> float:
    return datetime.strptime(text, "%d %b %y %H:%M %z").timestamp()


@pytest.mark.parametrize(("spec", "inside", "outside"), CASES)
def test_contains_as_alertmanager(
    spec: dict[str, Any], inside: list[str], outside: list[str]
) -> None:
    interval = TimeIntervalConfig.model_validate(spec).compile()
    assert [contains(interval, _instant(t)) for t in inside] == [True] * len(inside)
    assert [contains(interval, _instant(t)) for t in outside] == [False] * len(outside)


@pytest.mark.parametrize(
    "spec",
    [
        {"weekdays": ["friday:monday"]},
        {"weekdays": ["someday"]},
        {"days_of_month": ["0"]},
        {"days_of_month": ["-1:5"]},
        {"days_of_month": ["10:2"]},
        {"months": ["13"]},
        {"months": ["march:january"]},
        {"years": ["2022:2020"]},
        {"times": [{"start_time": "25:00", "end_time": "26:00"}]},
        {"times": [{"start_time": "09:00", "end_time": "09:00"}]},
        {"location": "Nowhere/Place"},
    ],
)
def test_invalid_intervals_are_refused(spec: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        TimeIntervalConfig.model_validate(spec)


def test_day_range_is_clamped_to_the_month() -> None:
    # built directly: the config refuses -31:31, the evaluation must still clamp it
    interval = TimeInterval(months=((6, 6),), days_of_month=((-31, 31),))
    assert contains(interval, _instant("30 Jun 20 00:00 +0000"))
    assert contains(interval, _instant("01 Jun 20 00:00 +0000"))
    assert not contains(interval, _instant("31 May 20 00:00 +0000"))
    assert not contains(interval, _instant("01 Jul 20 00:00 +0000"))
