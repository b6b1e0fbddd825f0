"""The two-proportion judge on error counts (z-test, or Fisher's exact test for few errors)."""

from __future__ import annotations

import pytest

from safeship.analysis.proportions import judge_proportions
from safeship.analysis.samples import Counts
from safeship.analysis.verdict import Outcome

F, P, INC = Outcome.FAIL, Outcome.PASS, Outcome.INCONCLUSIVE


@pytest.mark.parametrize(
    ("canary", "baseline", "abs_inc", "rel_pct", "expected", "test"),
    [
        (Counts(1000, 100), Counts(1000, 10), 0.0, 0.0, F, "z"),  # 10% vs 1% errors
        (Counts(1000, 11), Counts(1000, 10), 0.0, 0.0, P, "z"),  # noise
        (Counts(1000, 5), Counts(1000, 10), 0.0, 0.0, P, "z"),  # canary better
        (Counts(100_000, 1200), Counts(100_000, 1000), 0.0, 0.0, F, "z"),  # small, significant
        (Counts(100_000, 1200), Counts(100_000, 1000), 0.005, 0.0, P, "z"),  # +0.2pt allowed
        (Counts(100_000, 1200), Counts(100_000, 1000), 0.0, 50.0, P, "z"),  # +20% allowed
        (Counts(200, 8), Counts(200, 0), 0.0, 0.0, F, "fisher"),  # baseline 0 errors
        (Counts(200, 1), Counts(200, 0), 0.0, 0.0, P, "fisher"),
        (Counts(200, 0), Counts(200, 0), 0.0, 0.0, P, "fisher"),  # zeros everywhere
        (Counts(200, 200), Counts(200, 200), 0.0, 0.0, P, "fisher"),  # all errors on both
        (Counts(50, 40), Counts(1000, 10), 0.0, 0.0, INC, None),  # too few canary requests
        (Counts(0, 0), Counts(0, 0), 0.0, 0.0, INC, None),  # no data
    ],
)
def test_proportions_judge(
    canary: Counts,
    baseline: Counts,
    abs_inc: float,
    rel_pct: float,
    expected: Outcome,
    test: str | None,
) -> None:
    verdict = judge_proportions(
        "errors",
        canary,
        baseline,
        allowed_abs_increase=abs_inc,
        allowed_rel_increase_pct=rel_pct,
        min_samples=100,
    )
    assert verdict.outcome is expected, verdict.reason
    assert verdict.evidence.get("test") == test


def test_proportions_z_and_fisher_agree_roughly_where_both_apply() -> None:
    z = judge_proportions("e", Counts(2000, 40), Counts(2000, 20)).evidence["p_value"]
    assert 0.001 < z < 0.02  # 2% vs 1% over 2000 requests each: p about 0.005


def test_counts_refuse_more_errors_than_requests() -> None:
    with pytest.raises(ValueError):
        Counts(10, 11)
