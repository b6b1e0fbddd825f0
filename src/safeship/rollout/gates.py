"""Manual gates: people's requests (pause, resume, promote, abort, rollback) applied to the
status at the start of a tick. Pure; the reconciler observes the pending requests from the
store, and the journal marks them handled in the same transaction as the new status.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from safeship.rollout import rollback
from safeship.rollout.converge import advance
from safeship.rollout.state import Phase, Request, RolloutStatus, Trigger
from safeship.rollout.steps import Pause, Step


@dataclass(frozen=True)
class Gated:
    status: RolloutStatus
    events: tuple[str, ...] = ()
    consumed: tuple[int, ...] = ()


def apply(
    steps: Sequence[Step], status: RolloutStatus, requests: Sequence[Request], now: float
) -> Gated:
    """Every pending request, oldest first; one that does not fit the phase is refused."""
    events: list[str] = []
    for request in requests:
        status, event = _one(steps, status, request, now)
        events.append(f"{request.kind} by {request.actor}: {event}")
    return Gated(status, tuple(events), tuple(r.id for r in requests))


def _one(
    steps: Sequence[Step], status: RolloutStatus, request: Request, now: float
) -> tuple[RolloutStatus, str]:
    if status.phase.terminal:
        return status, f"ignored, the rollout is already {status.phase.value}"
    why = f" ({request.reason})" if request.reason else ""
    if request.kind in ("abort", "rollback"):
        return _roll_back(status, request, now, why)
    if status.phase in (Phase.ROLLING_BACK, Phase.PROMOTING):
        return status, f"ignored while {status.phase.value}"
    if request.kind == "pause":
        return _pause(status, request, why)
    if request.kind == "resume":
        return _resume(steps, status, now, why)
    return _promote(status, request, now, why)


def _roll_back(
    status: RolloutStatus, request: Request, now: float, why: str
) -> tuple[RolloutStatus, str]:
    mode = "fast" if request.kind == "abort" else request.mode
    if status.phase is Phase.ROLLING_BACK:
        switched = status.model_copy(update={"rollback_mode": mode})
        return switched, f"rollback continues, now {mode}{why}"
    reason = f"{'aborted' if request.kind == 'abort' else 'rolled back'} by {request.actor}{why}"
    plan = rollback.start(
        status, now, reason, Trigger.MANUAL, mode=mode, aborted=request.kind == "abort"
    )
    return plan.status, f"rolling back ({mode}){why}"


def _pause(status: RolloutStatus, request: Request, why: str) -> tuple[RolloutStatus, str]:
    if status.phase is Phase.PAUSED:
        return status, "already paused"
    message = f"paused by {request.actor}{why}"
    return status.model_copy(update={"phase": Phase.PAUSED, "message": message}), "paused"


def _resume(
    steps: Sequence[Step], status: RolloutStatus, now: float, why: str
) -> tuple[RolloutStatus, str]:
    if status.phase is not Phase.PAUSED:
        return status, "ignored, not paused"
    step = steps[status.step_index] if status.step_index < len(steps) else None
    if isinstance(step, Pause) and step.duration is None:
        return advance(status, now, f"resumed past the pause{why}").status, "resumed"
    resumed = status.model_copy(
        update={"phase": Phase.PROGRESSING, "judgements": [], "message": f"resumed{why}"}
    )
    return resumed, "resumed"


def _promote(
    status: RolloutStatus, request: Request, now: float, why: str
) -> tuple[RolloutStatus, str]:
    if request.full:
        message = f"promoted in full by {request.actor}{why}"
        return status.model_copy(update={"phase": Phase.PROMOTING, "message": message}), "full"
    advanced = advance(status, now, f"promoted past step {status.step_index + 1}{why}")
    return advanced.status, f"past step {status.step_index + 1}"
