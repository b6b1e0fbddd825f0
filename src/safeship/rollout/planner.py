"""The pure planner: (spec, status, observations, now) → Plan.

It opens no socket and reads no clock. Each tick first applies people's requests (gates.py),
then converges the world to what the status says (replicas, targets, traffic), and only then
moves the rollout forward through the compiled steps (steps.py), so a replayed tick after a
crash does the same thing again. Target strategies converge in targets.py; the decision to
roll back and every trigger of it live in rollback.py, promotion in promotion.py.
"""

from __future__ import annotations

from dataclasses import replace

from safeship.analysis.verdict import Outcome
from safeship.config.models import RolloutSpec
from safeship.rollout import baseline, gates, promotion, rollback, targets
from safeship.rollout.converge import CONVERGE_REQUEUE, PAUSED_REQUEUE, advance, converge, pause
from safeship.rollout.judging import assess_latest, judge
from safeship.rollout.state import (
    Action,
    Judgement,
    Observations,
    Phase,
    Plan,
    RolloutStatus,
    Route,
    Scale,
    Trigger,
)
from safeship.rollout.steps import (
    Analysis,
    Deploy,
    Pause,
    SetCanaryScale,
    SetWeight,
    Step,
    Verify,
    describe,
)
from safeship.rollout.strategies import compile_steps

__all__ = ["CONVERGE_REQUEUE", "PAUSED_REQUEUE", "judge", "plan"]


def plan(spec: RolloutSpec, status: RolloutStatus, obs: Observations, now: float) -> Plan:
    steps = compile_steps(spec, obs.targets)
    gated = gates.apply(steps, status, obs.requests, now)
    tick = _noting_split(_tick(spec, steps, gated.status, obs, now), now)
    if not gated.events and not gated.consumed:
        return tick
    return replace(tick, events=gated.events + tick.events, consumed=gated.consumed)


def _noting_split(tick: Plan, now: float) -> Plan:
    """A tick that routes changes the split (it is applied right after the status is saved):
    record when, so cumulative judgements restart from there (judging.data_since)."""
    if not any(isinstance(a, Route) for a in tick.actions):
        return tick
    return replace(tick, status=tick.status.model_copy(update={"split_changed_at": now}))


def _tick(
    spec: RolloutSpec, steps: tuple[Step, ...], status: RolloutStatus, obs: Observations, now: float
) -> Plan:
    if status.phase.terminal:
        return Plan(status)
    if failed := rollback.on_failed_action(status, obs, now):
        return failed
    if status.phase is Phase.PROMOTING:
        return promotion.promote(spec, status, obs, now)
    if status.phase is Phase.ROLLING_BACK:
        return rollback.roll_back(spec, steps, status, obs, now)
    if late := rollback.on_late_batch(steps, status, obs, now):
        return late
    actions = _steady(spec, steps, status, obs)
    if actions:
        return Plan(status, actions, CONVERGE_REQUEUE)
    if broken := rollback.on_unhealthy_targets(spec, steps, status, obs, now):
        return broken
    if status.phase is Phase.PAUSED:
        return Plan(status, (), PAUSED_REQUEUE)
    return _next_step(spec, steps, status, obs, now)


def _steady(
    spec: RolloutSpec, steps: tuple[Step, ...], status: RolloutStatus, obs: Observations
) -> tuple[Action, ...]:
    """While progressing: what the world must look like before the rollout moves on."""
    if spec.strategy.targets_based:
        return targets.steady(steps, status, obs)
    desired: list[Action] = [
        Scale(status.stable_version, spec.fleet.replicas),
        Scale(status.canary_version, status.canary_scale),
        *baseline.scaled(spec, status),
        baseline.canary_route(spec, status, status.canary_weight),
    ]
    return converge(desired, obs)


def _next_step(
    spec: RolloutSpec, steps: tuple[Step, ...], status: RolloutStatus, obs: Observations, now: float
) -> Plan:
    if status.step_index >= len(steps):
        promoting = status.model_copy(
            update={"phase": Phase.PROMOTING, "message": "all steps passed"}
        )
        return Plan(promoting, (), 0.0, ("all steps passed: promoting",))
    step = steps[status.step_index]
    if isinstance(step, SetWeight):
        return _set_weight(status, step.weight, now)
    if isinstance(step, SetCanaryScale):
        scaled = status.model_copy(update={"canary_scale": step.replicas})
        return advance(scaled, now, describe(step))
    if isinstance(step, Pause):
        return _pause_step(status, step, now)
    if isinstance(step, Deploy):
        return _deploy_step(status, step, obs, now)
    if isinstance(step, Verify):
        return _verify_step(status, obs, now)
    return _analyse(spec, step, status, obs, now)


def _set_weight(status: RolloutStatus, weight: float, now: float) -> Plan:
    first_traffic = status.canary_traffic_at or (now if weight > 0 else None)
    weighted = status.model_copy(
        update={"canary_weight": weight, "canary_traffic_at": first_traffic}
    )
    return advance(weighted, now, f"canary weight set to {weight:g}%")


def _pause_step(status: RolloutStatus, step: Pause, now: float) -> Plan:
    if step.duration is None:
        return pause(status, "paused until promoted")
    remaining = status.step_started_at + step.duration - now
    if remaining > 0:
        return Plan(status, (), remaining)
    return advance(status, now, f"pause of {step.duration:g}s over")


def _deploy_step(status: RolloutStatus, step: Deploy, obs: Observations, now: float) -> Plan:
    """Reached only once the batch converged (targets.steady): every target healthy on it."""
    if targets.batch_ready(step, status, obs):
        return advance(status, now, f"{step.label} deployed and healthy")
    return Plan(status, (), CONVERGE_REQUEUE)


def _verify_step(status: RolloutStatus, obs: Observations, now: float) -> Plan:
    if obs.verification is None:
        return Plan(status, (), CONVERGE_REQUEUE)
    if not obs.verification.ok:
        reason = f"verification failed: {obs.verification.reason}"
        return rollback.start(status, now, reason, Trigger.VERIFICATION)
    return advance(status, now, f"verified: {obs.verification.reason}")


def _analyse(
    spec: RolloutSpec, step: Analysis, status: RolloutStatus, obs: Observations, now: float
) -> Plan:
    interval = step.interval or spec.analysis.interval
    last = status.judgements[-1].at if status.judgements else status.step_started_at
    if now - last < interval:
        return Plan(status, (), last + interval - now)
    verdict = judge(spec, step, status, obs)
    judgement = Judgement(
        at=now, outcome=verdict.outcome, reason=verdict.reason, evidence=verdict.evidence
    )
    judged = status.model_copy(
        update={"judgements": [*status.judgements, judgement], "last_judgement": judgement}
    )
    outcome = assess_latest(step, [j.outcome for j in judged.judgements], verdict)
    if outcome is Outcome.FAIL:
        reason = f"analysis failed: {verdict.reason}"
        return rollback.start(judged, now, reason, Trigger.ANALYSIS)
    if outcome is Outcome.INCONCLUSIVE:
        return pause(judged, f"analysis inconclusive: {verdict.reason}")
    if outcome is Outcome.PASS:
        return advance(judged, now, "analysis passed")
    return Plan(judged, (), interval, (f"measurement {verdict.outcome}: {verdict.reason}",))
