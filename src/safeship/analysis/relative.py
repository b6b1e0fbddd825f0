"""Relative-to-baseline judge: how much worse is the canary's number than the baseline's?

The planner reads one value per version from the metric store (throughput, p99 latency, error
rate, memory) and asks whether the canary regressed by more than the allowed percentage, as
the seeds' rollout guards do. `direction` says which way is bad.
"""

from __future__ import annotations

import math
from typing import Literal

from safeship.analysis.samples import finite_or_none
from safeship.analysis.verdict import Outcome, Verdict

Direction = Literal["increase", "decrease"]


def judge_relative(
    name: str,
    canary: float | None,
    baseline: float | None,
    *,
    direction: Direction,
    max_regression_pct: float,
    abs_tolerance: float = 0.0,
) -> Verdict:
    """Fail when the canary is worse than the baseline by more than `max_regression_pct` %.

    `direction="increase"` means higher is worse (latency, error rate, memory), `"decrease"`
    means lower is worse (throughput). A change of at most `abs_tolerance` in the bad direction
    never counts, which is what makes a baseline of 0 usable: baseline 0 errors and canary
    0.0001 errors is within a tolerance of 0.001 instead of an infinite regression.
    """
    evidence: dict[str, object] = {
        "canary": canary,
        "baseline": baseline,
        "direction": direction,
        "max_regression_pct": max_regression_pct,
        "abs_tolerance": abs_tolerance,
    }
    missing = _missing(canary, baseline)
    if missing or canary is None or baseline is None:
        return Verdict(Outcome.INCONCLUSIVE, name, missing or "no data", evidence)
    if baseline == 0 and direction == "decrease":
        # A baseline of 0 throughput saw no traffic: a drop from it cannot be measured.
        return Verdict(Outcome.INCONCLUSIVE, name, "baseline is 0; cannot measure a drop", evidence)
    worse_by = canary - baseline if direction == "increase" else baseline - canary
    regression = _regression_pct(worse_by, baseline)
    evidence |= {"worse_by": worse_by, "regression_pct": finite_or_none(regression)}
    if worse_by <= abs_tolerance or regression <= max_regression_pct:
        reason = f"{_describe(regression)} {direction}, allowed {max_regression_pct:g}%"
        return Verdict(Outcome.PASS, name, reason, evidence)
    reason = f"canary {canary:g} vs baseline {baseline:g}: {_describe(regression)} {direction}"
    return Verdict(Outcome.FAIL, name, f"{reason}, allowed {max_regression_pct:g}%", evidence)


def _missing(canary: float | None, baseline: float | None) -> str:
    for label, value in (("canary", canary), ("baseline", baseline)):
        if value is None or math.isnan(value):
            return f"no {label} value"
    return ""


def _regression_pct(worse_by: float, baseline: float) -> float:
    if baseline == 0:
        return 0.0 if worse_by == 0 else math.copysign(math.inf, worse_by)
    return worse_by / abs(baseline) * 100


def _describe(regression: float) -> str:
    return "an unbounded" if math.isinf(regression) and regression > 0 else f"{regression:+.1f}%"
