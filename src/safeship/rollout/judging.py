"""Turning an analysis step's measurements (or, without metrics, health) into a verdict,
and which span of data each measurement may cover.

Pure: the reconciler has already measured (over the span `measurement_span` gives it, from
the persisted status); this only compares against the spec.
"""

from __future__ import annotations

from safeship.analysis.judge import judge_metrics
from safeship.analysis.runs import assess_run
from safeship.analysis.score import is_marginal
from safeship.analysis.verdict import Outcome, Verdict
from safeship.config.models import MetricSpec, RolloutSpec
from safeship.rollout.state import Observations, Phase, RolloutStatus
from safeship.rollout.steps import Analysis


def judge(spec: RolloutSpec, step: Analysis, status: RolloutStatus, obs: Observations) -> Verdict:
    """Metrics judged (and scored, with analysis.score); with no metrics, the new version's
    health."""
    metrics = spec.metrics_named(list(step.metrics) if step.metrics is not None else None)
    if metrics:
        return judge_metrics(metrics, obs.measurements, score=spec.analysis.score)
    return health_verdict(spec, status, obs)


def data_since(status: RolloutStatus) -> float:
    """Where the data a judgement may use starts: the analysis step's start, the last change
    of the traffic split, and, between the waves of a gradual rollback, the last wave."""
    starts = [status.step_started_at, status.split_changed_at or status.step_started_at]
    if status.phase is Phase.ROLLING_BACK and status.rollback_wave_at is not None:
        starts.append(status.rollback_wave_at)
    return max(starts)


def measurement_span(
    metric: MetricSpec, status: RolloutStatus, *, window: float, now: float
) -> tuple[float, float | None]:
    """(window, since) to measure `metric` over. A sequential test counts everything since
    `data_since` (its guarantee holds for cumulative counts only, never for sliding windows);
    other judges look at the sliding window, cut at the last wave of a gradual rollback."""
    since = data_since(status)
    if metric.cumulative:
        return max(now - since, 0.0), since
    if status.phase is Phase.ROLLING_BACK:
        start = max(since, now - window)
        return max(now - start, 0.0), start
    return window, None


def health_verdict(spec: RolloutSpec, status: RolloutStatus, obs: Observations) -> Verdict:
    if spec.strategy.targets_based:
        new = [t for t in obs.targets if t.version == status.canary_version]
        sick = [t.name for t in new if not t.healthy]
        ok = bool(new) and not sick
        reason = f"{len(new)} targets healthy" if ok else f"unhealthy: {', '.join(sick) or 'none'}"
        return Verdict(Outcome.PASS if ok else Outcome.FAIL, "health", reason)
    ready = obs.ready.get(status.canary_version, 0)
    ok = ready >= max(1, status.canary_scale)
    reason = f"{ready}/{status.canary_scale} canary replicas ready"
    return Verdict(Outcome.PASS if ok else Outcome.FAIL, "health", reason)


def assess_latest(step: Analysis, outcomes: list[Outcome], latest: Verdict) -> Outcome | None:
    """`assess`, except that a marginal score (the latest measurement) waits for a person at
    once: more measurements of the same canary would not settle it."""
    outcome = assess(step, outcomes)
    if outcome is None and is_marginal(latest):
        return Outcome.INCONCLUSIVE
    return outcome


def assess(step: Analysis, outcomes: list[Outcome]) -> Outcome | None:
    """The analysis run's outcome once decided, or None to keep measuring."""
    if not step.consecutive:
        return assess_run(
            outcomes,
            count=step.count,
            failure_limit=step.failure_limit,
            inconclusive_limit=step.inconclusive_limit,
        )
    if _trailing(outcomes, Outcome.FAIL) > step.failure_limit:
        return Outcome.FAIL
    if sum(o is Outcome.INCONCLUSIVE for o in outcomes) > step.inconclusive_limit:
        return Outcome.INCONCLUSIVE
    return Outcome.PASS if _trailing(outcomes, Outcome.PASS) >= step.count else None


def _trailing(outcomes: list[Outcome], kind: Outcome) -> int:
    count = 0
    for outcome in reversed(outcomes):
        if outcome is not kind:
            break
        count += 1
    return count
