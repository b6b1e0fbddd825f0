"""Anytime-valid sequential judges: fast on a bad canary, bounded false rollbacks at any look."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import integrate

from safeship.analysis.samples import Counts, Histogram
from safeship.analysis.sequential import (
    judge_sequential_errors,
    judge_sequential_latency,
    log_e_value,
)
from safeship.analysis.verdict import Outcome

F, P, INC = Outcome.FAIL, Outcome.PASS, Outcome.INCONCLUSIVE
BOUNDS = (0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.25, 0.3, 0.4, 0.5, 1.0)


@pytest.mark.parametrize(
    ("k", "m", "null_share"), [(7, 20, 0.3), (10, 10, 0.5), (0, 5, 0.5), (40, 60, 0.5)]
)
def test_e_value_is_the_mixture_integral(k: int, m: int, null_share: float) -> None:
    integral = integrate.quad(lambda q: q**k * (1 - q) ** (m - k), null_share, 1)[0]
    expected = integral / (1 - null_share) / (null_share**k * (1 - null_share) ** (m - k))
    assert math.exp(float(log_e_value(k, m, null_share))) == pytest.approx(expected, rel=1e-6)


@pytest.mark.parametrize(
    ("canary", "baseline", "ratio", "share", "expected"),
    [
        (Counts(250, 25), Counts(250, 2), 1.0, None, F),  # 10% vs 1% errors, 10 s at 50 req/s
        (Counts(250, 3), Counts(250, 2), 1.0, None, P),  # noise
        (Counts(100, 10), Counts(100, 0), 1.0, None, F),  # baseline without errors
        (Counts(2000, 600), Counts(2000, 590), 1.0, None, P),  # an outage hurting both alike
        (Counts(1000, 20), Counts(1000, 10), 3.0, None, P),  # 2x the errors, 3x allowed
        (Counts(100, 2), Counts(900, 18), 1.0, 0.1, P),  # 10% canary share, same rate
        (Counts(100, 20), Counts(900, 9), 1.0, 0.1, F),  # 10% canary share, 20x the rate
        (Counts(50, 1), Counts(50, 1), 1.0, None, INC),  # too few requests to pass
        (Counts(0, 0), Counts(100, 1), 1.0, None, INC),  # no canary traffic
        (Counts(0, 0), Counts(0, 0), 1.0, 0.5, INC),  # configured share but no data
        (Counts(500, 0), Counts(500, 0), 1.0, None, P),  # no errors anywhere
    ],
)
def test_sequential_errors_judge(
    canary: Counts, baseline: Counts, ratio: float, share: float | None, expected: Outcome
) -> None:
    verdict = judge_sequential_errors(
        "errors", canary, baseline, alpha=0.01, allowed_ratio=ratio, canary_share=share
    )
    assert verdict.outcome is expected, verdict.reason
    assert verdict.evidence["threshold"] == 100


def test_sequential_errors_false_rollbacks_stay_below_alpha_however_often_we_look() -> None:
    # 400 A/A runs of 120 one-second ticks at 25 req/s per side and 5% errors (many events).
    rng = np.random.default_rng(7)
    canary = rng.binomial(rng.poisson(25, (400, 120)), 0.05).cumsum(axis=1)
    baseline = rng.binomial(rng.poisson(25, (400, 120)), 0.05).cumsum(axis=1)
    log_e = log_e_value(canary, canary + baseline, 0.5)
    false_rollbacks = float(np.mean((log_e >= math.log(1 / 0.05)).any(axis=1)))
    assert false_rollbacks <= 0.05


def _histogram(samples: np.ndarray) -> Histogram:
    cumulative = np.searchsorted(np.sort(samples), BOUNDS, side="right")
    return Histogram(BOUNDS, tuple(int(c) for c in cumulative), int(samples.size))


def _latencies(seed: int, n: int, scale: float = 1.0) -> np.ndarray:
    return np.random.default_rng(seed).lognormal(np.log(0.05), 0.5, n) * scale


@pytest.mark.parametrize(
    ("canary", "baseline", "allowed_pct", "expected"),
    [
        (_latencies(1, 250, 1.5), _latencies(2, 250), 0, F),  # +50% latency, 10 s of traffic
        (_latencies(1, 250), _latencies(2, 250), 0, P),
        (_latencies(1, 250, 0.7), _latencies(2, 250), 0, P),  # faster canary
        (_latencies(1, 2000, 1.5), _latencies(2, 2000), 60, P),  # +50% within +60% allowed
        (_latencies(1, 2000, 2.5), _latencies(2, 2000), 60, F),
        (_latencies(1, 50), _latencies(2, 50), 0, INC),  # too few to pass
        (np.zeros(0), _latencies(2, 250), 0, INC),  # no canary traffic
        (np.full(300, 0.05), np.full(300, 0.05), 0, P),  # identical samples
        (np.full(300, 2.0), np.full(300, 2.0), 0, P),  # everything beyond the last bound
    ],
)
def test_sequential_latency_judge(
    canary: np.ndarray, baseline: np.ndarray, allowed_pct: float, expected: Outcome
) -> None:
    verdict = judge_sequential_latency(
        "latency",
        _histogram(canary),
        _histogram(baseline),
        alpha=0.01,
        allowed_increase_pct=allowed_pct,
    )
    assert verdict.outcome is expected, verdict.reason


def test_sequential_latency_evidence_names_the_bounds_compared() -> None:
    verdict = judge_sequential_latency(
        "latency",
        _histogram(_latencies(1, 400, 2.0)),
        _histogram(_latencies(2, 400)),
        allowed_increase_pct=20,
    )
    assert verdict.outcome is F
    assert verdict.evidence["bound"] / verdict.evidence["baseline_bound"] >= 1.2
    assert min(verdict.evidence["effective_margins"]) >= 1.2


def test_sequential_latency_refuses_different_bounds() -> None:
    other = Histogram((0.1, 0.2), (1, 2), 3)
    with pytest.raises(ValueError, match="different bounds"):
        judge_sequential_latency("latency", _histogram(_latencies(1, 10)), other)


def test_sequential_judges_refuse_impossible_settings() -> None:
    with pytest.raises(ValueError, match="allowed_ratio"):
        judge_sequential_errors("e", Counts(10, 1), Counts(10, 1), allowed_ratio=0)
    with pytest.raises(ValueError, match="alpha"):
        judge_sequential_errors("e", Counts(10, 1), Counts(10, 1), alpha=1.5)
    with pytest.raises(ValueError, match="canary_share"):
        judge_sequential_errors("e", Counts(10, 1), Counts(10, 1), canary_share=1.0)
