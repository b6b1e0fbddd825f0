"""Small pure helpers every part of the planner shares: "is the world as wanted yet?" and
the status moves that many decisions end in (advance a step, pause, finish)."""

from __future__ import annotations

from collections.abc import Sequence

from safeship.rollout.state import (
    Action,
    DeployTarget,
    Observations,
    Phase,
    Plan,
    RolloutStatus,
    Route,
    Scale,
    Traffic,
    ready_key,
)

CONVERGE_REQUEUE = 0.5  # seconds between ticks while actions are under way
PAUSED_REQUEUE = 5.0


def converge(desired: Sequence[Action], obs: Observations) -> tuple[Action, ...]:
    """The desired actions that the observed world does not yet satisfy, in order."""
    return tuple(a for a in desired if not satisfied(a, obs))


def satisfied(action: Action, obs: Observations) -> bool:
    if isinstance(action, Scale):
        return obs.ready.get(ready_key(action.version, action.role), 0) == action.replicas
    if isinstance(action, DeployTarget):
        return any(
            t.name == action.target and t.version == action.version and t.healthy
            for t in obs.targets
        )
    return _routed(action, obs.traffic)


def _routed(route: Route, traffic: Traffic) -> bool:
    weight, baseline = (route.weight, route.baseline_weight) if route.canary else (0.0, 0.0)
    wanted = (route.stable, route.canary, weight, baseline)
    same = (traffic.stable, traffic.canary, traffic.weight, traffic.baseline_weight) == wanted
    return same and (route.members is None or route.members == traffic.members)


def advance(status: RolloutStatus, now: float, event: str) -> Plan:
    advanced = status.model_copy(
        update={
            "step_index": status.step_index + 1,
            "step_started_at": now,
            "judgements": [],
            "message": event,
            "phase": Phase.PROGRESSING,
        }
    )
    return Plan(advanced, (), 0.0, (f"step {status.step_index + 1}: {event}",))


def pause(status: RolloutStatus, reason: str) -> Plan:
    paused = status.model_copy(update={"phase": Phase.PAUSED, "message": reason})
    return Plan(paused, (), PAUSED_REQUEUE, (f"paused: {reason}",))


def finish_when(
    status: RolloutStatus, actions: tuple[Action, ...], done: Phase, now: float
) -> Plan:
    """End the rollout in `done` once `actions` are all satisfied; until then, do them."""
    if actions:
        return Plan(status, actions, CONVERGE_REQUEUE)
    finished = status.model_copy(update={"phase": done, "finished_at": now, "canary_weight": 0.0})
    summary = "promoted" if done is Phase.PROMOTED else "rolled back"
    return Plan(finished, (), None, (f"{summary}: {status.message}",))
