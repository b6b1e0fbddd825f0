"""Kayenta-style canary score: the weighted share of metrics that passed, 0..100.

The last judgement of an analysis: the planner collects one verdict per metric (from the
other judges), each with a weight, and this turns them into one verdict. A score at or above
`pass_threshold` passes, at or above `marginal_threshold` is inconclusive so the rollout
pauses for a person, and below fails. A failing `critical` metric fails the whole analysis.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from safeship.analysis.verdict import Outcome, Verdict

MARGINAL_REASON = "marginal: needs a person"


@dataclass(frozen=True)
class ScoredMetric:
    """One metric's verdict and how much it counts."""

    verdict: Verdict
    weight: float = 1.0
    critical: bool = False  # failing it fails the analysis whatever the score


def judge_score(
    metrics: Sequence[ScoredMetric],
    *,
    pass_threshold: float = 95.0,
    marginal_threshold: float = 75.0,
    count_inconclusive: bool = False,
    name: str = "score",
) -> Verdict:
    """Score = 100 * weight of passed metrics / weight of judged metrics.

    Inconclusive metrics are left out of the score unless `count_inconclusive`, when they
    count as not passed. Nothing judged (or no weight) is inconclusive, never a pass; so is a
    passing score while a `critical` metric has no verdict (too little data).
    """
    if not 0 <= marginal_threshold <= pass_threshold <= 100:
        raise ValueError("need 0 <= marginal_threshold <= pass_threshold <= 100")
    if any(m.weight < 0 for m in metrics):
        raise ValueError("metric weights must not be negative")
    score = _score(metrics, count_inconclusive=count_inconclusive)
    evidence = {
        "score": score,
        "pass_threshold": pass_threshold,
        "marginal_threshold": marginal_threshold,
        "count_inconclusive": count_inconclusive,
        "metrics": {m.verdict.metric: _metric_evidence(m) for m in metrics},
    }
    return Verdict(
        _outcome(metrics, score, (pass_threshold, marginal_threshold)),
        name,
        _reason(metrics, score, (pass_threshold, marginal_threshold)),
        evidence,
    )


def is_marginal(verdict: Verdict) -> bool:
    """A score between marginal and pass: the rollout waits for a person, not for more data."""
    return verdict.outcome is Outcome.INCONCLUSIVE and verdict.reason.startswith(MARGINAL_REASON)


def _score(metrics: Sequence[ScoredMetric], *, count_inconclusive: bool) -> float | None:
    counted = [
        m for m in metrics if count_inconclusive or m.verdict.outcome is not Outcome.INCONCLUSIVE
    ]
    total = sum(m.weight for m in counted)
    passed = sum(m.weight for m in counted if m.verdict.outcome is Outcome.PASS)
    return 100 * passed / total if total > 0 else None


def _outcome(
    metrics: Sequence[ScoredMetric], score: float | None, thresholds: tuple[float, float]
) -> Outcome:
    if any(m.critical and m.verdict.outcome is Outcome.FAIL for m in metrics):
        return Outcome.FAIL
    if score is None:
        return Outcome.INCONCLUSIVE
    passing, marginal = thresholds
    if score >= passing:
        # A critical metric without data could still fail the analysis: no pass before it.
        return Outcome.INCONCLUSIVE if _critical_missing(metrics) else Outcome.PASS
    return Outcome.INCONCLUSIVE if score >= marginal else Outcome.FAIL


def _reason(
    metrics: Sequence[ScoredMetric], score: float | None, thresholds: tuple[float, float]
) -> str:
    critical = [
        m.verdict.metric for m in metrics if m.critical and m.verdict.outcome is Outcome.FAIL
    ]
    if critical:
        return f"critical metric failed: {', '.join(critical)}"
    if score is None:
        return "no metric could be judged"
    passing, marginal = thresholds
    failed = [m.verdict.metric for m in metrics if m.verdict.outcome is Outcome.FAIL]
    detail = f"score {score:.1f} (pass >= {passing:g}, marginal >= {marginal:g})"
    detail += f"; failed: {', '.join(failed)}" if failed else ""
    if score >= passing:
        missing = _critical_missing(metrics)
        return (
            f"critical metric without data: {', '.join(missing)}; {detail}" if missing else detail
        )
    return f"{MARGINAL_REASON}: {detail}" if score >= marginal else detail


def _critical_missing(metrics: Sequence[ScoredMetric]) -> list[str]:
    return [
        m.verdict.metric
        for m in metrics
        if m.critical and m.verdict.outcome is Outcome.INCONCLUSIVE
    ]


def _metric_evidence(metric: ScoredMetric) -> dict[str, object]:
    return {
        "outcome": str(metric.verdict.outcome),
        "weight": metric.weight,
        "critical": metric.critical,
        "reason": metric.verdict.reason,
    }
