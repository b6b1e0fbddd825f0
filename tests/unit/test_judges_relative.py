"""The relative-to-baseline judge: % regression in the bad direction."""

from __future__ import annotations

import math

import pytest

from safeship.analysis.relative import Direction, judge_relative
from safeship.analysis.verdict import Outcome

F, P, INC = Outcome.FAIL, Outcome.PASS, Outcome.INCONCLUSIVE


@pytest.mark.parametrize(
    ("canary", "baseline", "direction", "max_pct", "tolerance", "expected", "regression"),
    [
        (0.110, 0.100, "increase", 20, 0.0, P, 10.0),  # latency +10% of 20% allowed
        (0.150, 0.100, "increase", 20, 0.0, F, 50.0),  # latency +50%
        (0.090, 0.100, "increase", 20, 0.0, P, -10.0),  # faster is never a regression
        (80.0, 100.0, "decrease", 10, 0.0, F, 20.0),  # throughput drop 20%
        (95.0, 100.0, "decrease", 10, 0.0, P, 5.0),
        (120.0, 100.0, "decrease", 10, 0.0, P, -20.0),
        (0.0, 0.0, "increase", 10, 0.0, P, 0.0),  # no errors on either side
        (0.01, 0.0, "increase", 10, 0.0, F, None),  # errors where the baseline had none
        (0.0001, 0.0, "increase", 10, 0.001, P, None),  # within the absolute tolerance
        (50.0, 0.0, "decrease", 10, 0.0, INC, None),  # baseline saw no traffic
        (None, 0.1, "increase", 10, 0.0, INC, None),
        (0.1, None, "increase", 10, 0.0, INC, None),
        (math.nan, 0.1, "increase", 10, 0.0, INC, None),
        (0.1, 0.1, "increase", 0, 0.0, P, 0.0),  # identical values
        (512.0, 500.0, "increase", 1, 20.0, P, 2.4),  # memory: +12 MB within 20 MB tolerance
    ],
)
def test_relative_judge(
    canary: float | None,
    baseline: float | None,
    direction: Direction,
    max_pct: float,
    tolerance: float,
    expected: Outcome,
    regression: float | None,
) -> None:
    verdict = judge_relative(
        "m",
        canary,
        baseline,
        direction=direction,
        max_regression_pct=max_pct,
        abs_tolerance=tolerance,
    )
    assert verdict.outcome is expected, verdict.reason
    if expected is not INC:
        found = verdict.evidence["regression_pct"]
        assert found == regression if regression is None else found == pytest.approx(regression)


def test_relative_failure_says_by_how_much() -> None:
    verdict = judge_relative("p99", 0.15, 0.10, direction="increase", max_regression_pct=20)
    assert "+50.0%" in verdict.reason and "allowed 20%" in verdict.reason
