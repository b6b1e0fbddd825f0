"""Promotion: the new version everywhere, the old one gone, then the rollout is done.

Pure, like the rest of the planner; the world converges first and only then does the phase
move to Promoted.
"""

from __future__ import annotations

from safeship.config.models import RolloutSpec
from safeship.rollout import baseline, targets
from safeship.rollout.converge import converge, finish_when
from safeship.rollout.state import Action, Observations, Phase, Plan, RolloutStatus, Route, Scale


def promote(spec: RolloutSpec, status: RolloutStatus, obs: Observations, now: float) -> Plan:
    new, old = status.canary_version, status.stable_version
    if spec.strategy.targets_based:
        want = {t.name: new for t in obs.targets}
        actions = targets.converge_targets(status, obs, want, parallel=len(want), drain=False)
        actions += converge([Route(new, None, 0.0)], obs)
        return finish_when(status, actions, Phase.PROMOTED, now)
    desired: list[Action] = [
        Scale(new, spec.fleet.replicas),
        Route(new, None, 0.0),  # also takes the fresh baseline out of routing (drained)
        Scale(old, 0),
        baseline.removed(status),
    ]
    return finish_when(status, converge(desired, obs), Phase.PROMOTED, now)
