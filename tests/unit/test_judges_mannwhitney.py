"""The Mann-Whitney judge: fail only when significant AND practically large."""

from __future__ import annotations

import math

import numpy as np
import pytest

from safeship.analysis.mannwhitney import judge_mann_whitney
from safeship.analysis.verdict import Outcome

F, P, INC = Outcome.FAIL, Outcome.PASS, Outcome.INCONCLUSIVE


def _latencies(seed: int, n: int, scale: float = 1.0) -> np.ndarray:
    return np.random.default_rng(seed).lognormal(np.log(0.05), 0.5, n) * scale


@pytest.mark.parametrize(
    ("canary", "baseline", "allowed_pct", "expected"),
    [
        (_latencies(1, 400, 1.5), _latencies(2, 400), 10, F),  # +50% latency
        (_latencies(1, 400), _latencies(2, 400), 10, P),  # same distribution
        (_latencies(1, 400, 0.7), _latencies(2, 400), 10, P),  # faster canary
        (_latencies(1, 5000, 1.05), _latencies(2, 5000), 10, P),  # significant but small
        (_latencies(1, 5000, 1.05), _latencies(2, 5000), 2, F),  # ... unless allowed is tighter
        (_latencies(1, 10, 3.0), _latencies(2, 400), 10, INC),  # too few canary samples
        (np.full(100, 0.05), np.full(100, 0.05), 0, P),  # identical samples: all ties
        (np.zeros(100), np.zeros(100), 0, P),  # zeros on both sides
        (np.full(100, 0.01), np.zeros(100), 10, F),  # baseline median 0: unbounded effect
        (np.array([math.nan] * 100), _latencies(2, 100), 10, INC),  # NaN is missing
    ],
)
def test_mann_whitney_judge(
    canary: np.ndarray, baseline: np.ndarray, allowed_pct: float, expected: Outcome
) -> None:
    verdict = judge_mann_whitney(
        "latency", canary, baseline, allowed_increase_pct=allowed_pct, min_samples=20
    )
    assert verdict.outcome is expected, verdict.reason


def test_mann_whitney_evidence_carries_the_numbers_used() -> None:
    verdict = judge_mann_whitney(
        "latency", _latencies(1, 400, 1.5), _latencies(2, 400), confidence=0.99
    )
    evidence = verdict.evidence
    assert evidence["p_value"] < 0.01
    assert evidence["effect_pct"] == pytest.approx(50, abs=15)
    assert evidence["canary_samples"] == evidence["baseline_samples"] == 400


def test_mann_whitney_decrease_direction_fails_a_throughput_drop() -> None:
    rng = np.random.default_rng(3)
    canary, baseline = rng.normal(70, 5, 60), rng.normal(100, 5, 60)
    verdict = judge_mann_whitney("rps", canary, baseline, direction="decrease")
    assert verdict.outcome is F
    assert judge_mann_whitney("rps", baseline, canary, direction="decrease").outcome is P
