"""The migration tracker (pure): where a rollout stands across its targets — per-target state,
progress, stage, velocity and ETA — derived from the persisted status and the compiled steps.

`safeship status --detailed` prints it; rollout/metrics.py exports it to Prometheus.
Pool strategies (canary, trafficSplit, blueGreen) have no named targets: their progress is
the share of traffic on the new version.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import StrEnum

from safeship.rollout.state import Phase, RolloutStatus
from safeship.rollout.steps import Deploy, Step

HOUR = 3600.0


class TargetState(StrEnum):
    STABLE = "stable"
    DEPLOYING = "deploying"
    CANARY = "canary"
    VERIFIED = "verified"
    ROLLED_BACK = "rolled back"


STAGES = ((0.05, "initialization"), (0.25, "early adopters"), (0.75, "majority"))


@dataclass(frozen=True)
class Migration:
    progress: float  # 0..1
    stage: str
    done: int  # targets on the new version and past their gate (or traffic % for pools)
    total: int
    velocity_per_hour: float | None  # targets per hour so far; None before the first is done
    eta_seconds: float | None
    targets: dict[str, TargetState] = field(default_factory=dict)


def track(
    steps: Sequence[Step], status: RolloutStatus, targets: Sequence[str], now: float
) -> Migration:
    states = {name: _state(steps, status, name) for name in targets} if targets else {}
    if not states:
        return _pool(status, now)
    done = sum(s in (TargetState.VERIFIED, TargetState.CANARY) for s in states.values())
    return _migration(status, done=done, total=len(states), now=now, states=states)


def _pool(status: RolloutStatus, now: float) -> Migration:
    percent = 100 if status.phase is Phase.PROMOTED else int(status.canary_weight)
    return _migration(status, done=percent, total=100, now=now, states={})


def _migration(
    status: RolloutStatus, *, done: int, total: int, now: float, states: dict[str, TargetState]
) -> Migration:
    progress = 1.0 if status.phase is Phase.PROMOTED else (done / total if total else 0.0)
    elapsed = (status.finished_at or now) - status.started_at
    velocity = done / (elapsed / HOUR) if done and elapsed > 0 else None
    eta = (total - done) / velocity * HOUR if velocity and not status.phase.terminal else None
    return Migration(progress, stage_of(progress), done, total, velocity, eta, states)


def stage_of(progress: float) -> str:
    """initialization < 5% ≤ early adopters < 25% ≤ majority < 75% ≤ finalization < 100%."""
    if progress >= 1.0:
        return "completed"
    return next((name for limit, name in STAGES if progress < limit), "finalization")


def _state(steps: Sequence[Step], status: RolloutStatus, name: str) -> TargetState:
    index = _deploy_index(steps, name)
    if index is None or index > status.step_index:
        return TargetState.STABLE
    if status.phase in (Phase.ROLLED_BACK, Phase.ROLLING_BACK):
        return TargetState.ROLLED_BACK
    if status.phase is Phase.PROMOTED:
        return TargetState.VERIFIED
    if index == status.step_index:
        return TargetState.DEPLOYING
    step = steps[index]
    return TargetState.CANARY if isinstance(step, Deploy) and step.canary else TargetState.VERIFIED


def _deploy_index(steps: Sequence[Step], name: str) -> int | None:
    for index, step in enumerate(steps):
        if isinstance(step, Deploy) and name in step.targets:
            return index
    return None
