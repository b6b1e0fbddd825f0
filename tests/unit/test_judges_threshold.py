"""The custom-metric threshold judge and the Argo-style measurement loop."""

from __future__ import annotations

import math

import pytest

from safeship.analysis.runs import assess_run
from safeship.analysis.threshold import judge_threshold
from safeship.analysis.verdict import Outcome
from safeship.config.condition import ConditionError

F, P, INC = Outcome.FAIL, Outcome.PASS, Outcome.INCONCLUSIVE


@pytest.mark.parametrize(
    ("values", "fail_if", "success_if", "min_samples", "expected"),
    [
        ([0.995, 0.999], None, "result >= 0.99", 1, P),
        ([0.995, 0.95], None, "result >= 0.99", 1, F),
        ([0.2], "result > 0.05", None, 1, F),
        ([0.01], "result > 0.05", None, 1, P),
        ([0.5], "result > 0.9", "result < 0.1", 1, INC),  # matched neither condition
        ([0.95, 0.5], "result > 0.9", "result < 0.1", 1, F),  # any failing value fails
        ([], None, "result >= 0.99", 1, INC),  # no data is never a pass
        ([math.nan], None, "result >= 0.99", 1, INC),  # NaN is missing data
        ([0.999, math.nan], None, "result >= 0.99", 2, INC),
        ([0.999] * 3, None, "result >= 0.99", 5, INC),
        ([0.0], "result > 0", None, 1, P),
        ([math.inf], "result > 1000", None, 1, F),
    ],
)
def test_threshold_judge(
    values: list[float],
    fail_if: str | None,
    success_if: str | None,
    min_samples: int,
    expected: Outcome,
) -> None:
    verdict = judge_threshold(
        "m", values, fail_if=fail_if, success_if=success_if, min_samples=min_samples
    )
    assert verdict.outcome is expected
    assert verdict.evidence["samples"] == sum(not math.isnan(v) for v in values)


def test_threshold_failure_names_the_offending_values() -> None:
    verdict = judge_threshold("error_rate", [0.01, 0.2], fail_if="result > 0.05")
    assert verdict.evidence["offending"] == [0.2]
    assert "1 of 2 values failed" in verdict.reason


def test_threshold_reports_a_typo_even_without_data() -> None:
    with pytest.raises(ConditionError):
        judge_threshold("m", [], success_if="reslt > 1")


def test_threshold_needs_a_condition() -> None:
    with pytest.raises(ValueError, match="fail_if or success_if"):
        judge_threshold("m", [1.0])


@pytest.mark.parametrize(
    ("measurements", "count", "failure_limit", "inconclusive_limit", "expected"),
    [
        ([], 3, 0, 0, None),
        ([P, P], 3, 0, 0, None),
        ([P, P, P], 3, 0, 0, P),
        ([P, F], 3, 0, 0, F),  # fails at once, before count is reached
        ([P, F], 3, 1, 0, None),
        ([F, P, F], 5, 1, 0, F),
        ([P, F, P], 3, 1, 0, None),  # count is passes needed, not measurements taken
        ([P, F, P, P], 3, 1, 0, P),
        ([INC], 3, 0, 0, INC),
        ([INC, P, P, P], 3, 0, 1, P),
        ([INC, INC], 5, 0, 1, INC),
        ([F, INC], 5, 0, 0, F),  # failure outranks inconclusive
        ([P] * 50, 0, 0, 0, None),  # count 0: measure until a limit is crossed
        ([P] * 50 + [F], 0, 0, 0, F),
    ],
)
def test_assess_run(
    measurements: list[Outcome],
    count: int,
    failure_limit: int,
    inconclusive_limit: int,
    expected: Outcome | None,
) -> None:
    outcome = assess_run(
        measurements,
        count=count,
        failure_limit=failure_limit,
        inconclusive_limit=inconclusive_limit,
    )
    assert outcome is expected


def test_assess_run_refuses_negative_limits() -> None:
    with pytest.raises(ValueError):
        assess_run([], count=1, failure_limit=-1, inconclusive_limit=0)
