"""How a rollout ends: promotion, and rollback — fast (everything at once) or gradual (in
waves, newest batch or biggest weight first, stopping early once the trigger has cleared).

Pure, like the rest of the planner; each function converges the world first and only then
moves the phase on.
"""

from __future__ import annotations

from collections.abc import Sequence

from safeship.analysis.verdict import Outcome
from safeship.config.models import RolloutSpec
from safeship.rollout import baseline, targets
from safeship.rollout.converge import CONVERGE_REQUEUE, converge, pause
from safeship.rollout.judging import judge
from safeship.rollout.state import (
    Action,
    Observations,
    Phase,
    Plan,
    RollbackMode,
    RolloutStatus,
    Route,
    Scale,
)
from safeship.rollout.steps import Analysis, Deploy, Step

GRADUAL_FLOOR = 5.0  # below this weight a gradual rollback goes straight to zero
CLEARABLE = ("analysis", "health")  # triggers a gradual rollback re-checks between waves


def start_rollback(
    status: RolloutStatus,
    now: float,
    reason: str,
    trigger: str,
    *,
    mode: RollbackMode = "fast",
    aborted: bool = False,
) -> Plan:
    rolling_back = status.model_copy(
        update={
            "phase": Phase.ROLLING_BACK,
            "message": reason,
            "traffic_zero_at": now if mode == "fast" else None,
            "rollback_mode": mode,
            "rollback_trigger": trigger,
            "rollback_wave": 1,
            "rollback_wave_at": None,
            "aborted": aborted,
        }
    )
    return Plan(rolling_back, (), 0.0, (f"rolling back ({mode}, {trigger}): {reason}",))


def promote(spec: RolloutSpec, status: RolloutStatus, obs: Observations, now: float) -> Plan:
    new, old = status.canary_version, status.stable_version
    if spec.strategy.targets_based:
        want = {t.name: new for t in obs.targets}
        actions = targets.converge_targets(status, obs, want, parallel=len(want), drain=False)
        actions += converge([Route(new, None, 0.0)], obs)
        return _finish_when(status, actions, Phase.PROMOTED, now)
    desired: list[Action] = [
        Scale(new, spec.fleet.replicas),
        Route(new, None, 0.0),  # also takes the fresh baseline out of routing (drained)
        Scale(old, 0),
        baseline.removed(status),
    ]
    return _finish_when(status, converge(desired, obs), Phase.PROMOTED, now)


def roll_back(
    spec: RolloutSpec, steps: Sequence[Step], status: RolloutStatus, obs: Observations, now: float
) -> Plan:
    if status.rollback_mode == "gradual" and not _waves_over(spec, steps, status):
        return _gradual(spec, steps, status, obs, now)
    return _finish_when(status, _everything_back(spec, steps, status, obs), Phase.ROLLED_BACK, now)


def _everything_back(
    spec: RolloutSpec, steps: Sequence[Step], status: RolloutStatus, obs: Observations
) -> tuple[Action, ...]:
    stable, canary = status.stable_version, status.canary_version
    if spec.strategy.targets_based:
        want = {t.name: stable for t in obs.targets}
        order = [t for batch in _reverse_batches(steps, status) for t in batch]
        moves = targets.converge_targets(status, obs, want, parallel=len(want), order=order)
        return moves or converge([Route(stable, None, 0.0)], obs)
    desired: list[Action] = [
        Scale(stable, spec.fleet.replicas),
        Route(stable, None, 0.0),
        Scale(canary, 0),
        baseline.removed(status),
    ]
    return converge(desired, obs)


def _gradual(
    spec: RolloutSpec, steps: Sequence[Step], status: RolloutStatus, obs: Observations, now: float
) -> Plan:
    """One wave back, a settle-and-wait, a re-check of the trigger, then the next wave."""
    actions = _wave_actions(spec, steps, status, obs)
    if actions:
        return Plan(status, actions, CONVERGE_REQUEUE)
    wave, interval = status.rollback_wave, spec.analysis.interval
    if status.rollback_wave_at is None:
        settled = status.model_copy(update={"rollback_wave_at": now})
        return Plan(settled, (), interval, (f"rollback wave {wave} done",))
    remaining = status.rollback_wave_at + interval - now
    if remaining > 0:
        return Plan(status, (), remaining)
    if _cleared(spec, status, obs):
        return pause(
            status, f"rollback stopped after wave {wave}: {status.rollback_trigger} cleared"
        )
    following = status.model_copy(update={"rollback_wave": wave + 1, "rollback_wave_at": None})
    return Plan(following, (), 0.0)


def _wave_actions(
    spec: RolloutSpec, steps: Sequence[Step], status: RolloutStatus, obs: Observations
) -> tuple[Action, ...]:
    if spec.strategy.targets_based:
        batches = _reverse_batches(steps, status)[: status.rollback_wave]
        want = {name: status.stable_version for batch in batches for name in batch}
        order = [t for batch in batches for t in batch]
        return targets.converge_targets(status, obs, want, parallel=len(want) or 1, order=order)
    weight = wave_weight(status.canary_weight, status.rollback_wave)
    route = Route(
        status.stable_version,
        status.canary_version,
        weight,
        baseline_weight=baseline.share(spec, weight),  # the re-check still needs a baseline
    )
    return converge([route], obs)


def _waves_over(spec: RolloutSpec, steps: Sequence[Step], status: RolloutStatus) -> bool:
    if spec.strategy.targets_based:
        return status.rollback_wave > len(_reverse_batches(steps, status))
    return wave_weight(status.canary_weight, status.rollback_wave) <= 0


def wave_weight(weight: float, wave: int) -> float:
    """Canary weight during gradual-rollback wave `wave`: halved each wave, then zero."""
    for _ in range(wave):
        weight = weight / 2 if weight / 2 >= GRADUAL_FLOOR else 0.0
    return weight


def _cleared(spec: RolloutSpec, status: RolloutStatus, obs: Observations) -> bool:
    if status.rollback_trigger not in CLEARABLE:
        return False
    return judge(spec, Analysis(), status, obs).outcome is Outcome.PASS


def _reverse_batches(steps: Sequence[Step], status: RolloutStatus) -> list[tuple[str, ...]]:
    """The deploy steps reached so far, newest first: the order a rollback undoes them in."""
    reached = steps[: status.step_index + 1]
    return [step.targets for step in reversed(reached) if isinstance(step, Deploy)]


def _finish_when(
    status: RolloutStatus, actions: tuple[Action, ...], done: Phase, now: float
) -> Plan:
    if actions:
        return Plan(status, actions, CONVERGE_REQUEUE)
    finished = status.model_copy(update={"phase": done, "finished_at": now, "canary_weight": 0.0})
    summary = "promoted" if done is Phase.PROMOTED else "rolled back"
    return Plan(finished, (), None, (f"{summary}: {status.message}",))
