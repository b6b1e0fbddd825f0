"""The pure planner: (spec, status, observations, now) → Plan.

It opens no socket and reads no clock. Each phase first converges the world to what the
status says (replicas, traffic), and only then moves the rollout forward, so a replayed
tick after a crash does the same thing again.
"""

from __future__ import annotations

from collections.abc import Sequence

from safeship.analysis.builtin import judge_builtin
from safeship.analysis.runs import assess_run
from safeship.analysis.verdict import Outcome, Verdict, combine
from safeship.config.models import AnalysisStep, PauseStep, RolloutSpec, SetWeightStep
from safeship.rollout.state import (
    Action,
    Judgement,
    Observations,
    Phase,
    Plan,
    RolloutStatus,
    Route,
    Scale,
    Traffic,
)

CONVERGE_REQUEUE = 0.5  # seconds between ticks while actions are under way
PAUSED_REQUEUE = 5.0


def plan(spec: RolloutSpec, status: RolloutStatus, obs: Observations, now: float) -> Plan:
    if status.phase.terminal:
        return Plan(status)
    if obs.action_error and status.phase is not Phase.ROLLING_BACK:
        return _start_rollback(status, now, f"action failed: {obs.action_error}")
    if status.phase is Phase.PROMOTING:
        return _promote(spec, status, obs, now)
    if status.phase is Phase.ROLLING_BACK:
        return _roll_back(spec, status, obs, now)
    actions = _converge(_steady_state(spec, status), obs)
    if actions:
        return Plan(status, actions, CONVERGE_REQUEUE)
    if status.phase is Phase.PAUSED:
        return Plan(status, (), PAUSED_REQUEUE)
    return _next_step(spec, status, obs, now)


def _steady_state(spec: RolloutSpec, status: RolloutStatus) -> list[Action]:
    """While progressing: the full stable fleet, the canary replicas, the current split."""
    return [
        Scale(status.stable_version, spec.fleet.replicas),
        Scale(status.canary_version, spec.strategy.canary.canary_replicas),
        Route(status.stable_version, status.canary_version, status.canary_weight),
    ]


def _converge(desired: Sequence[Action], obs: Observations) -> tuple[Action, ...]:
    """The desired actions that the observed world does not yet satisfy, in order."""
    return tuple(a for a in desired if not _satisfied(a, obs))


def _satisfied(action: Action, obs: Observations) -> bool:
    if isinstance(action, Scale):
        return obs.ready.get(action.version, 0) == action.replicas
    wanted = Traffic(action.stable, action.canary, action.weight if action.canary else 0.0)
    return obs.traffic == wanted


def _next_step(spec: RolloutSpec, status: RolloutStatus, obs: Observations, now: float) -> Plan:
    steps = spec.strategy.canary.steps
    if status.step_index >= len(steps):
        promoting = status.model_copy(
            update={"phase": Phase.PROMOTING, "message": "all steps passed"}
        )
        return Plan(promoting, (), 0.0, ("all steps passed: promoting",))
    step = steps[status.step_index]
    if isinstance(step, SetWeightStep):
        return _set_weight(status, step.set_weight, now)
    if isinstance(step, PauseStep):
        remaining = status.step_started_at + step.pause.duration - now
        if remaining > 0:
            return Plan(status, (), remaining)
        return _advance(status, now, f"pause of {step.pause.duration:g}s over")
    return _analyse(spec, step, status, obs, now)


def _set_weight(status: RolloutStatus, weight: float, now: float) -> Plan:
    first_traffic = status.canary_traffic_at or (now if weight > 0 else None)
    weighted = status.model_copy(
        update={"canary_weight": weight, "canary_traffic_at": first_traffic}
    )
    return _advance(weighted, now, f"canary weight set to {weight:g}%")


def _advance(status: RolloutStatus, now: float, event: str) -> Plan:
    advanced = status.model_copy(
        update={
            "step_index": status.step_index + 1,
            "step_started_at": now,
            "judgements": [],
            "message": event,
        }
    )
    return Plan(advanced, (), 0.0, (f"step {status.step_index + 1}: {event}",))


def _analyse(
    spec: RolloutSpec, step: AnalysisStep, status: RolloutStatus, obs: Observations, now: float
) -> Plan:
    interval = step.analysis.interval or spec.analysis.interval
    last = status.judgements[-1].at if status.judgements else status.step_started_at
    if now - last < interval:
        return Plan(status, (), last + interval - now)
    verdict = judge_measurements(spec, step, obs)
    judgement = Judgement(
        at=now, outcome=verdict.outcome, reason=verdict.reason, evidence=verdict.evidence
    )
    judged = status.model_copy(
        update={"judgements": [*status.judgements, judgement], "last_judgement": judgement}
    )
    outcome = assess_run(
        [j.outcome for j in judged.judgements],
        count=step.analysis.count,
        failure_limit=step.analysis.failure_limit,
        inconclusive_limit=step.analysis.inconclusive_limit,
    )
    if outcome is Outcome.FAIL:
        return _start_rollback(judged, now, f"analysis failed: {verdict.reason}")
    if outcome is Outcome.INCONCLUSIVE:
        return _pause(judged, f"analysis inconclusive: {verdict.reason}")
    if outcome is Outcome.PASS:
        return _advance(judged, now, "analysis passed")
    return Plan(judged, (), interval, (f"measurement {verdict.outcome}: {verdict.reason}",))


def judge_measurements(spec: RolloutSpec, step: AnalysisStep, obs: Observations) -> Verdict:
    metrics = spec.metrics_for(step)
    return combine([judge_builtin(m, obs.measurements.get(m.name)) for m in metrics])


def _pause(status: RolloutStatus, reason: str) -> Plan:
    paused = status.model_copy(update={"phase": Phase.PAUSED, "message": reason})
    return Plan(paused, (), PAUSED_REQUEUE, (f"paused: {reason}",))


def _start_rollback(status: RolloutStatus, now: float, reason: str) -> Plan:
    rolling_back = status.model_copy(
        update={"phase": Phase.ROLLING_BACK, "message": reason, "traffic_zero_at": now}
    )
    return Plan(rolling_back, (), 0.0, (f"rolling back: {reason}",))


def _promote(spec: RolloutSpec, status: RolloutStatus, obs: Observations, now: float) -> Plan:
    new, old = status.canary_version, status.stable_version
    desired: list[Action] = [Scale(new, spec.fleet.replicas), Route(new, None, 0.0), Scale(old, 0)]
    return _finish_when_converged(status, obs, desired, Phase.PROMOTED, now)


def _roll_back(spec: RolloutSpec, status: RolloutStatus, obs: Observations, now: float) -> Plan:
    stable, canary = status.stable_version, status.canary_version
    desired: list[Action] = [
        Scale(stable, spec.fleet.replicas),
        Route(stable, None, 0.0),
        Scale(canary, 0),
    ]
    return _finish_when_converged(status, obs, desired, Phase.ROLLED_BACK, now)


def _finish_when_converged(
    status: RolloutStatus, obs: Observations, desired: list[Action], done: Phase, now: float
) -> Plan:
    actions = _converge(desired, obs)
    if actions:
        return Plan(status, actions, CONVERGE_REQUEUE)
    finished = status.model_copy(update={"phase": done, "finished_at": now, "canary_weight": 0.0})
    summary = "promoted" if done is Phase.PROMOTED else "rolled back"
    return Plan(finished, (), None, (f"{summary}: {status.message}",))
