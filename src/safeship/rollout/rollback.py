"""The decision to roll back, and how a rollback runs: fast (everything at once) or gradual
(in waves, newest batch or biggest weight first, stopping early once the trigger has cleared).

Every trigger (`state.Trigger`) and the function that raises it:
- `ACTION`: `on_failed_action`: an action of the last tick failed;
- `HEALTH`: `on_late_batch` (a deploy batch not healthy within its health timeout) and
  `on_unhealthy_targets` (targets on the new version died or fail their checks);
- `VERIFICATION`: `planner._verify_step`: a post-deployment check failed;
- `ANALYSIS`: `planner._analyse`: the analysis step's verdict is fail (judging.py);
- `MANUAL`: `gates._roll_back`: a person asked for `rollback` or `abort`.
All of them end in `start`; `roll_back` then carries the rollback on, tick by tick.
Pure, like the rest of the planner.
"""

from __future__ import annotations

from collections.abc import Sequence

from safeship.analysis.verdict import Outcome
from safeship.config.models import RolloutSpec
from safeship.rollout import baseline, targets
from safeship.rollout.converge import CONVERGE_REQUEUE, converge, finish_when, pause
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
    Trigger,
)
from safeship.rollout.steps import Analysis, Deploy, Step

GRADUAL_FLOOR = 5.0  # below this weight a gradual rollback goes straight to zero


def on_failed_action(status: RolloutStatus, obs: Observations, now: float) -> Plan | None:
    """An action of the last tick failed (a replica did not start, the router refused)."""
    if not obs.action_error or status.phase is Phase.ROLLING_BACK:
        return None
    return start(status, now, f"action failed: {obs.action_error}", Trigger.ACTION)


def on_late_batch(
    steps: Sequence[Step], status: RolloutStatus, obs: Observations, now: float
) -> Plan | None:
    """The deploy step under way is not healthy within its health timeout."""
    step = steps[status.step_index] if status.step_index < len(steps) else None
    if not isinstance(step, Deploy) or status.phase is not Phase.PROGRESSING:
        return None
    if now - status.step_started_at <= step.health_timeout:
        return None
    if targets.batch_ready(step, status, obs):
        return None
    return start(
        status, now, f"{step.label} not healthy within {step.health_timeout:g}s", Trigger.HEALTH
    )


def on_unhealthy_targets(
    spec: RolloutSpec, steps: Sequence[Step], status: RolloutStatus, obs: Observations, now: float
) -> Plan | None:
    """Targets already moved to the new version have died or fail their health check."""
    broken = targets.unhealthy_new(steps, status, obs) if spec.strategy.targets_based else []
    if not broken:
        return None
    return start(status, now, f"health check failed on {', '.join(broken[:5])}", Trigger.HEALTH)


def start(
    status: RolloutStatus,
    now: float,
    reason: str,
    trigger: Trigger,
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


def roll_back(
    spec: RolloutSpec, steps: Sequence[Step], status: RolloutStatus, obs: Observations, now: float
) -> Plan:
    """Carry a started rollback on: everything at once (fast), or one wave per tick (gradual)."""
    if status.rollback_mode == "gradual" and not _waves_over(spec, steps, status):
        return _gradual(spec, steps, status, obs, now)
    return finish_when(status, _everything_back(spec, steps, status, obs), Phase.ROLLED_BACK, now)


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
    if status.rollback_trigger is None or not status.rollback_trigger.clearable:
        return False
    return judge(spec, Analysis(), status, obs).outcome is Outcome.PASS


def _reverse_batches(steps: Sequence[Step], status: RolloutStatus) -> list[tuple[str, ...]]:
    """The deploy steps reached so far, newest first: the order a rollback undoes them in."""
    reached = steps[: status.step_index + 1]
    return [step.targets for step in reversed(reached) if isinstance(step, Deploy)]
