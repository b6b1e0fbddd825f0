"""Canary-vs-baseline judge on error counts: a one-sided two-proportion test.

The planner passes request and error counts of both versions over the analysis window (from
the router's counters or the metric store). With enough expected errors the pooled z-test is
used; with few (any expected cell below 5) Fisher's exact test, whose p-value stays honest
when the normal approximation does not. As with Mann-Whitney, a failure needs both
significance and a practically large increase, so a real but harmless +0.01% never rolls back.
"""

from __future__ import annotations

import math

from safeship.analysis.samples import Counts
from safeship.analysis.verdict import Outcome, Verdict

_MIN_EXPECTED = 5.0  # the usual rule of thumb for the normal approximation


def judge_proportions(
    name: str,
    canary: Counts,
    baseline: Counts,
    *,
    confidence: float = 0.95,
    allowed_abs_increase: float = 0.0,
    allowed_rel_increase_pct: float = 0.0,
    min_samples: int = 100,
) -> Verdict:
    """Fail when the canary's error ratio is significantly higher than the baseline's and the
    increase exceeds both `allowed_abs_increase` (ratio points, e.g. 0.005 = 0.5 points) and
    `allowed_rel_increase_pct` (% of the baseline ratio). Fewer than `min_samples` requests
    on either side is inconclusive.
    """
    if not 0 < confidence < 1:
        raise ValueError(f"{name}: confidence must be between 0 and 1, got {confidence}")
    evidence: dict[str, object] = {
        "canary": {"requests": canary.trials, "errors": canary.events},
        "baseline": {"requests": baseline.trials, "errors": baseline.events},
        "confidence": confidence,
        "allowed_abs_increase": allowed_abs_increase,
        "allowed_rel_increase_pct": allowed_rel_increase_pct,
        "min_samples": min_samples,
    }
    need = max(min_samples, 1)
    if min(canary.trials, baseline.trials) < need:
        reason = f"{canary.trials} canary / {baseline.trials} baseline requests, need {need} each"
        return Verdict(Outcome.INCONCLUSIVE, name, reason, evidence)
    test, p_value = _one_sided_p(canary, baseline)
    p_c, p_b = canary.events / canary.trials, baseline.events / baseline.trials
    evidence |= {"canary_ratio": p_c, "baseline_ratio": p_b, "test": test, "p_value": p_value}
    large = p_c - p_b > allowed_abs_increase and p_c > p_b * (1 + allowed_rel_increase_pct / 100)
    significant = p_value < 1 - confidence
    summary = f"{p_c:.4%} vs {p_b:.4%}, p={p_value:.3g} ({test})"
    if significant and large:
        return Verdict(Outcome.FAIL, name, f"canary errors more: {summary}", evidence)
    why = "not significant" if not significant else "within the allowed increase"
    return Verdict(Outcome.PASS, name, f"{why}: {summary}", evidence)


def _one_sided_p(canary: Counts, baseline: Counts) -> tuple[str, float]:
    """P-value of "canary ratio > baseline ratio", by z-test or Fisher's exact test."""
    trials = canary.trials + baseline.trials
    events = canary.events + baseline.events
    expected = [
        n * k / trials for n in (canary.trials, baseline.trials) for k in (events, trials - events)
    ]
    if min(expected) < _MIN_EXPECTED:
        table = [
            [canary.events, canary.trials - canary.events],
            [baseline.events, baseline.trials - baseline.events],
        ]
        from scipy.stats import fisher_exact  # scipy.stats costs ~0.6 s to import: only when judged

        return "fisher", float(fisher_exact(table, alternative="greater").pvalue)
    pooled = events / trials
    spread = math.sqrt(pooled * (1 - pooled) * (1 / canary.trials + 1 / baseline.trials))
    z = (canary.events / canary.trials - baseline.events / baseline.trials) / spread
    return "z", 0.5 * math.erfc(z / math.sqrt(2))  # the normal tail, without scipy's overhead
