"""Target strategies (rolling, waves): which target must run which version, in what order,
and how traffic follows. Pure; the planner, promotion.py and rollback.py call it each tick.

A target's wanted version is derived from the step index alone (targets of finished deploy
steps and of the current one run the new version, the rest the stable one), so the status
stays small however large the fleet is.

No request may be in flight to a process being stopped. Without surge a batch is taken out
of the routing (drained) before it is deployed; with surge it stays routed, and the provider
hands each target over when its new replica is healthy (`handover_split`: the new replica is
routed and the old one drained, then stopped), so capacity never dips.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace

from safeship.core.types import Replica, Target, TrafficSplit
from safeship.rollout.converge import satisfied
from safeship.rollout.state import Action, DeployTarget, Observations, RolloutStatus, Route
from safeship.rollout.steps import Deploy, Step, deployed_before


def wanted_new(steps: Sequence[Step], status: RolloutStatus) -> set[str]:
    names = set(deployed_before(steps, status.step_index))
    current = _current(steps, status)
    return names | set(current.targets) if current else names


def steady(steps: Sequence[Step], status: RolloutStatus, obs: Observations) -> tuple[Action, ...]:
    """While progressing: move the current batch (a few at a time), keep the rest as they are."""
    new = wanted_new(steps, status)
    want = {
        t.name: status.canary_version if t.name in new else status.stable_version
        for t in obs.targets
    }
    current = _current(steps, status)
    parallel = current.parallel if current else len(obs.targets)
    return converge_targets(
        status, obs, want, parallel=parallel, drain=not current or current.drain
    )


def converge_targets(
    status: RolloutStatus,
    obs: Observations,
    want: Mapping[str, str],
    *,
    parallel: int,
    drain: bool = True,
    order: Sequence[str] = (),
) -> tuple[Action, ...]:
    """Route (draining the targets about to move unless `drain` is False: surge, where the
    provider's handover drains each one), then deploy: at most `parallel` moves.

    Empty or dead slots that should run the stable version are filled at once; a target
    on the new version that died is left for the health check to notice, not restarted.
    """
    fresh = [t for t in obs.targets if _needs_start(t, want.get(t.name), status)]
    moving = _ordered([t for t in obs.targets if _needs_move(t, want.get(t.name))], order)
    batch = moving[: max(1, parallel)]
    leaving = {t.name for t in batch} if drain else set()
    routed = [t for t in obs.targets if t.healthy and t.name not in leaving]
    route = traffic_for(routed, status)
    deploys = [DeployTarget(t.name, want[t.name]) for t in [*fresh, *batch]]
    first = [route] if route is not None and not satisfied(route, obs) else []
    return (*first, *deploys)


def _needs_start(target: Target, version: str | None, status: RolloutStatus) -> bool:
    if version is None:
        return False
    if target.version is None:
        return True
    return target.version == version == status.stable_version and not target.healthy


def _needs_move(target: Target, version: str | None) -> bool:
    return version is not None and target.version is not None and target.version != version


def _ordered(targets: list[Target], order: Sequence[str]) -> list[Target]:
    if not order:
        return targets
    rank = {name: i for i, name in enumerate(order)}
    return sorted(targets, key=lambda t: rank.get(t.name, -1))


def traffic_for(routed: Sequence[Target], status: RolloutStatus) -> Route | None:
    """Traffic over the routed targets, split by how many run each version."""
    stable = [t for t in routed if t.version == status.stable_version]
    new = [t for t in routed if t.version == status.canary_version]
    members = frozenset(t.replica.id for t in [*stable, *new] if t.replica is not None)
    if not members:
        return None  # nobody to route to: keep the old routing rather than route to nothing
    if not new:
        return Route(status.stable_version, None, 0.0, members)
    if not stable:
        return Route(status.canary_version, None, 0.0, members)
    weight = round(100 * len(new) / (len(stable) + len(new)), 2)
    return Route(status.stable_version, status.canary_version, weight, members)


def handover_split(split: TrafficSplit, *, old: Replica, new: Replica | None) -> TrafficSplit:
    """`split` with `new` routed in place of `old`; the share follows the replica counts as in
    `traffic_for`, so the next tick's route already holds. The router drains `old` on apply.

    The pools keep their versions; a version the split lacks joins as the canary. A split
    that would route to nobody is kept as it is.
    """
    gone = (old.host, old.port)
    routed = [r for r in (*split.stable, *split.canary) if (r.host, r.port) != gone]
    routed += [new] if new is not None else []
    order = [r.version for r in (*split.stable, *split.canary, *routed)]
    versions = list(dict.fromkeys(v for v in order if any(r.version == v for r in routed)))
    if not versions:
        return split
    stable = tuple(r for r in routed if r.version == versions[0])
    canary = tuple(r for r in routed if r.version != versions[0])
    weight = round(100 * len(canary) / len(routed), 2) if canary else 0.0
    return replace(split, stable=stable, canary=canary, canary_weight=weight)


def batch_ready(step: Deploy, status: RolloutStatus, obs: Observations) -> bool:
    names = set(step.targets)
    ready = [
        t
        for t in obs.targets
        if t.name in names and t.healthy and t.version == status.canary_version
    ]
    return len(ready) == len(names)


def unhealthy_new(steps: Sequence[Step], status: RolloutStatus, obs: Observations) -> list[str]:
    """Targets of finished deploy steps whose new version has died or fails its health check."""
    done = set(deployed_before(steps, status.step_index))
    return [
        t.name
        for t in obs.targets
        if t.name in done and t.version == status.canary_version and not t.healthy
    ]


def _current(steps: Sequence[Step], status: RolloutStatus) -> Deploy | None:
    if status.step_index < len(steps):
        step = steps[status.step_index]
        return step if isinstance(step, Deploy) else None
    return None
