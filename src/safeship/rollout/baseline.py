"""The fresh baseline pool of a canary (Kayenta's setup), as the planner wants it.

Where it sits: the planner's steady state, promotion and rollback ask here which actions the
baseline needs. With `baseline: {pool: fresh}` a pool of the STABLE version, as big as the
canary (it follows setCanaryScale), runs beside it and gets the canary's share of traffic,
so analysis compares two pools of equal age and equal traffic mix (the router labels its
series pool="baseline"). It is removed when the rollout ends either way. With the default
`stable` baseline every helper here adds nothing, so plans stay as they always were.
"""

from __future__ import annotations

from safeship.config.models import RolloutSpec
from safeship.core.types import BASELINE
from safeship.rollout.state import RolloutStatus, Route, Scale


def share(spec: RolloutSpec, canary_weight: float) -> float:
    """The baseline's percent of traffic: the canary's, while stable keeps at least as much;
    above 50 % the baseline takes only what the canary leaves (stable then gets nothing)."""
    if not spec.strategy.fresh_baseline:
        return 0.0
    return max(0.0, min(canary_weight, 100.0 - canary_weight))


def canary_route(spec: RolloutSpec, status: RolloutStatus, weight: float) -> Route:
    """Traffic while the canary runs: `weight` to it, the same share to a fresh baseline."""
    canary = status.canary_version if status.canary_scale > 0 else None  # no pool, no route
    baseline = share(spec, weight) if canary else 0.0
    return Route(status.stable_version, canary, weight, baseline_weight=baseline)


def scaled(spec: RolloutSpec, status: RolloutStatus) -> tuple[Scale, ...]:
    """While the canary runs: the baseline pool as big as the canary pool (none by default)."""
    if not spec.strategy.fresh_baseline:
        return ()
    return (Scale(status.stable_version, status.canary_scale, role=BASELINE),)


def removed(status: RolloutStatus) -> Scale:
    """When the rollout ends: no baseline replica left. Already true (so converged away)
    when there never was one, so it is safe to ask for whatever the spec says."""
    return Scale(status.stable_version, 0, role=BASELINE)
