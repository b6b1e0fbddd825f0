"""Canary-vs-baseline judge on sample distributions (latency), Kayenta-style Mann-Whitney U.

The planner hands over the canary's and the baseline's samples from the same window. A
rank test alone fails a canary for any tiny, real slowdown once there are enough samples,
so, as Kayenta does, this judge fails only when the shift is both statistically significant
(one-sided U test at `confidence`) and practically large (ratio of medians beyond
`allowed_increase_pct`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Literal

import numpy as np

from safeship.analysis.samples import FloatArray, clean, finite_or_none
from safeship.analysis.verdict import Outcome, Verdict

Direction = Literal["increase", "decrease"]


def judge_mann_whitney(
    name: str,
    canary: Sequence[float] | FloatArray,
    baseline: Sequence[float] | FloatArray,
    *,
    confidence: float = 0.95,
    allowed_increase_pct: float = 10.0,
    min_samples: int = 20,
    direction: Direction = "increase",
) -> Verdict:
    """Fail when the canary's values are significantly AND materially worse than the baseline's.

    `direction="increase"` (latency) tests "canary greater"; `"decrease"` (throughput) tests
    "canary less", and the effect is then the drop of the median in percent. NaNs are dropped;
    fewer than `min_samples` on either side is inconclusive.
    """
    if not 0 < confidence < 1:
        raise ValueError(f"{name}: confidence must be between 0 and 1, got {confidence}")
    c, b = clean(canary), clean(baseline)
    evidence: dict[str, object] = {
        "canary_samples": int(c.size),
        "baseline_samples": int(b.size),
        "min_samples": min_samples,
        "confidence": confidence,
        "allowed_increase_pct": allowed_increase_pct,
        "direction": direction,
    }
    if min(c.size, b.size) < max(min_samples, 1):
        reason = f"{c.size} canary / {b.size} baseline samples, need {max(min_samples, 1)} each"
        return Verdict(Outcome.INCONCLUSIVE, name, reason, evidence)
    p_value = _p_value(c, b, direction=direction)
    effect = _effect_pct(float(np.median(c)), float(np.median(b)), direction=direction)
    evidence |= {
        "canary_median": float(np.median(c)),
        "baseline_median": float(np.median(b)),
        "p_value": p_value,
        "effect_pct": finite_or_none(effect),
    }
    return _decide(
        name, p_value=p_value, effect=effect, limits=(1 - confidence, allowed_increase_pct),
        evidence=evidence,
    )  # fmt: skip


def _p_value(c: FloatArray, b: FloatArray, *, direction: Direction) -> float:
    alternative = "greater" if direction == "increase" else "less"
    from scipy.stats import mannwhitneyu  # scipy.stats costs ~0.6 s to import: only when judged

    p = float(mannwhitneyu(c, b, alternative=alternative).pvalue)
    return 1.0 if math.isnan(p) else p  # all values tied: no evidence of a shift


def _effect_pct(canary_median: float, baseline_median: float, *, direction: Direction) -> float:
    """How much worse the canary's median is, in percent of the baseline's."""
    worse_by = canary_median - baseline_median
    worse_by = worse_by if direction == "increase" else -worse_by
    if baseline_median == 0:
        return 0.0 if worse_by == 0 else math.copysign(math.inf, worse_by)
    return worse_by / abs(baseline_median) * 100


def _decide(
    name: str,
    *,
    p_value: float,
    effect: float,
    limits: tuple[float, float],
    evidence: dict[str, object],
) -> Verdict:
    alpha, allowed = limits
    significant, large = p_value < alpha, effect > allowed
    summary = f"median {effect:+.1f}% (allowed {allowed:g}%), p={p_value:.3g} (alpha {alpha:.3g})"
    if significant and large:
        return Verdict(Outcome.FAIL, name, f"canary is worse: {summary}", evidence)
    why = "not significant" if not significant else "within the allowed effect"
    return Verdict(Outcome.PASS, name, f"{why}: {summary}", evidence)
