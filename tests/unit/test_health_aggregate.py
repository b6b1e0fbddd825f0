"""Aggregation of check results and of per-target states, table-driven."""

from __future__ import annotations

import pytest

from safeship.health.aggregate import (
    CheckResult,
    HealthState,
    aggregate,
    fleet_health,
    worst,
)
from safeship.health.result import ProbeResult

H, D, U = HealthState.HEALTHY, HealthState.DEGRADED, HealthState.UNHEALTHY


def check(name: str, *, ok: bool, critical: bool = True) -> CheckResult:
    return CheckResult(name, ProbeResult(ok, 0.01, "fine" if ok else "HTTP 503"), critical=critical)


@pytest.mark.parametrize(
    ("checks", "state", "failing"),
    [
        ([], H, []),
        ([check("http", ok=True), check("disk", ok=True, critical=False)], H, []),
        ([check("http", ok=True), check("disk", ok=False, critical=False)], D, ["disk"]),
        (
            [check("disk", ok=False, critical=False), check("cache", ok=False, critical=False)],
            D,
            ["disk", "cache"],
        ),
        ([check("http", ok=False), check("disk", ok=True, critical=False)], U, ["http"]),
        ([check("http", ok=False), check("disk", ok=False, critical=False)], U, ["http", "disk"]),
    ],
)
def test_aggregate_maps_failures_by_criticality(
    checks: list[CheckResult], state: HealthState, failing: list[str]
) -> None:
    report = aggregate(checks)
    assert report.state is state
    assert [c.name for c in report.failing] == failing
    assert len(report.checks) == len(checks)


def test_report_summary_names_each_failing_check_and_why() -> None:
    report = aggregate([check("http", ok=False), check("tcp", ok=True)])
    assert report.summary() == "unhealthy: http: HTTP 503"
    assert aggregate([check("tcp", ok=True)]).summary() == "healthy: 1 checks passed"


@pytest.mark.parametrize(
    ("states", "ratio", "expected"),
    [
        ({}, 0.5, U),
        ({"a": H, "b": H}, 0.0, H),
        ({"a": H, "b": D}, 0.0, D),
        ({"a": H, "b": U}, 0.0, U),
        ({"a": H, "b": U}, 0.5, D),
        ({"a": H, "b": H, "c": H, "d": U}, 0.25, D),
        ({"a": H, "b": H, "c": U, "d": U}, 0.25, U),
        ({"a": U, "b": U}, 1.0, D),
    ],
)
def test_fleet_health_tolerates_up_to_the_ratio_of_unhealthy_targets(
    states: dict[str, HealthState], ratio: float, expected: HealthState
) -> None:
    assert fleet_health(states, max_unhealthy_ratio=ratio) is expected


@pytest.mark.parametrize("ratio", [-0.1, 1.5])
def test_fleet_health_refuses_a_ratio_outside_zero_to_one(ratio: float) -> None:
    with pytest.raises(ValueError, match="max_unhealthy_ratio"):
        fleet_health({"a": H}, max_unhealthy_ratio=ratio)


@pytest.mark.parametrize(
    ("states", "expected"), [([], H), ([H, D], D), ([D, U, H], U), ([H, H], H)]
)
def test_worst_orders_healthy_below_degraded_below_unhealthy(
    states: list[HealthState], expected: HealthState
) -> None:
    assert worst(states) is expected
