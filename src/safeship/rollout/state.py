"""What the planner reads and writes: the persisted status, the observations, the actions.

Actions are declarative ("version v has n ready replicas", "traffic is split so"), so
repeating one after a crash changes nothing.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, field_validator

from safeship.analysis.measurement import Measurement
from safeship.analysis.verdict import Outcome
from safeship.config.models import RolloutSpec
from safeship.core.types import MAIN, Role, Target
from safeship.rollout.strategies import initial_canary_scale

RollbackMode = Literal["fast", "gradual"]
RequestKind = Literal["pause", "resume", "promote", "abort", "rollback"]


class Phase(StrEnum):
    PROGRESSING = "Progressing"
    PAUSED = "Paused"
    PROMOTING = "Promoting"
    ROLLING_BACK = "RollingBack"
    PROMOTED = "Promoted"
    ROLLED_BACK = "RolledBack"

    @property
    def terminal(self) -> bool:
        return self in (Phase.PROMOTED, Phase.ROLLED_BACK)


class Trigger(StrEnum):
    """Why a rollout is rolled back; `rollout/rollback.py` names the function behind each."""

    ANALYSIS = "analysis"  # an analysis step judged the canary bad
    HEALTH = "health"  # new targets unhealthy, or a batch not healthy in time
    VERIFICATION = "verification"  # a post-deployment check failed
    ACTION = "action"  # an action on the fleet or the router failed
    MANUAL = "manual"  # a person asked (rollback or abort)

    @property
    def clearable(self) -> bool:
        """A gradual rollback re-checks these between waves and stops once they clear."""
        return self in (Trigger.ANALYSIS, Trigger.HEALTH)


class Judgement(BaseModel):
    """One analysis measurement as recorded in the status: when, outcome, why, evidence."""

    model_config = ConfigDict(frozen=True)

    at: float
    outcome: Outcome
    reason: str
    evidence: dict[str, Any] = {}


class RolloutStatus(BaseModel):
    """The persisted progress of one rollout; the planner's only memory."""

    model_config = ConfigDict(frozen=True)

    rollout_id: str
    service: str
    stable_version: str
    canary_version: str
    steps_hash: str
    started_at: float
    phase: Phase = Phase.PROGRESSING
    step_index: int = 0
    step_started_at: float
    canary_weight: float = 0.0
    judgements: list[Judgement] = []  # of the current analysis step
    last_judgement: Judgement | None = None
    message: str = ""
    canary_traffic_at: float | None = None
    # When the planner last changed the traffic split: cumulative (sequential) judgements
    # count only requests since then, so one test never mixes two splits.
    split_changed_at: float | None = None
    traffic_zero_at: float | None = None
    finished_at: float | None = None
    strategy: str = "canary"
    canary_scale: int = 0  # replicas of the canary pool (traffic strategies)
    rollback_mode: RollbackMode = "fast"
    rollback_trigger: Trigger | None = None
    rollback_wave: int = 0  # gradual rollback: waves started so far
    rollback_wave_at: float | None = None  # gradual rollback: when the current wave settled
    aborted: bool = False  # rolled back because a person said so

    @field_validator("rollback_trigger", mode="before")
    @classmethod
    def _no_trigger(cls, value: object) -> object:
        return value or None  # statuses persisted before triggers were named stored ""


def steps_hash(spec: RolloutSpec) -> str:
    """Identifies the strategy (and so the step list), so a changed spec is noticed on resume."""
    doc = {
        "strategy": spec.strategy.model_dump(mode="json", by_alias=True, exclude_unset=True),
        "verify": spec.verify.model_dump(mode="json") if spec.verify else None,
    }
    return hashlib.sha256(json.dumps(doc, sort_keys=True).encode()).hexdigest()[:16]


def new_status(
    spec: RolloutSpec, *, rollout_id: str, stable: str, canary: str, now: float
) -> RolloutStatus:
    return RolloutStatus(
        rollout_id=rollout_id,
        service=spec.service.name,
        stable_version=stable,
        canary_version=canary,
        steps_hash=steps_hash(spec),
        started_at=now,
        step_started_at=now,
        strategy=spec.strategy.name,
        canary_scale=initial_canary_scale(spec),
    )


@dataclass(frozen=True)
class Request:
    """A person's command to a running rollout (pause, resume, promote, abort, rollback)."""

    id: int
    kind: RequestKind
    actor: str = "cli"
    reason: str = ""
    full: bool = False  # promote --full: skip every remaining step
    mode: RollbackMode = "fast"  # rollback --strategy


@dataclass(frozen=True)
class VerifyResult:
    """The post-deploy checks' answer, observed by the reconciler for a verify step."""

    ok: bool
    reason: str


def ready_key(version: str, role: Role = MAIN) -> str:
    """The key of `Observations.ready`: the version for its own pool, `v1@baseline` for a
    fresh baseline of v1, so baseline replicas never count towards the stable pool."""
    return version if role == MAIN else f"{version}@{role}"


@dataclass(frozen=True)
class Traffic:
    """Routing in force, by version; weight is the canary's percent, baseline_weight the
    fresh baseline pool's (0 when there is none).

    `members` are the replica ids routed to, observed always and compared only when a
    `Route` names its members (target strategies drain single targets).
    """

    stable: str | None
    canary: str | None = None
    weight: float = 0.0
    members: frozenset[str] = frozenset()
    baseline_weight: float = 0.0


@dataclass(frozen=True)
class Observations:
    """One immutable snapshot of the world, gathered before each decision."""

    ready: Mapping[str, int]  # healthy replicas per ready_key (version, or version@baseline)
    traffic: Traffic
    measurements: Mapping[str, Measurement] = field(default_factory=dict)  # canary, by metric
    action_error: str | None = None  # the previous tick's action failed with this
    targets: tuple[Target, ...] = ()  # target strategies only
    requests: tuple[Request, ...] = ()  # pending commands from people, oldest first
    verification: VerifyResult | None = None  # only while a verify step runs


@dataclass(frozen=True)
class Scale:
    version: str
    replicas: int
    role: Role = MAIN  # "baseline": the fresh baseline pool of `version`

    def describe(self) -> str:
        pool = "" if self.role == MAIN else f"{self.role} "
        return f"scale {pool}{self.version} to {self.replicas} replicas"


@dataclass(frozen=True)
class Route:
    stable: str
    canary: str | None
    weight: float
    members: frozenset[str] | None = None  # replica ids to route to; None: every healthy one
    baseline_weight: float = 0.0  # share of the fresh baseline pool (of `stable`), if any

    def describe(self) -> str:
        if self.canary is None:
            return f"route all traffic to {self.stable}"
        text = f"route {self.weight:g}% to {self.canary}"
        if self.baseline_weight:
            text += f", {self.baseline_weight:g}% to the {self.stable} baseline"
        return text + f", the rest to {self.stable}"


@dataclass(frozen=True)
class DeployTarget:
    target: str
    version: str

    def describe(self) -> str:
        return f"deploy {self.version} to {self.target}"


Action = Scale | Route | DeployTarget


@dataclass(frozen=True)
class Plan:
    """The planner's answer: the status to persist, then the actions to take, in order."""

    status: RolloutStatus
    actions: tuple[Action, ...] = ()
    requeue_after: float | None = None  # None once the rollout is over
    events: tuple[str, ...] = ()  # what happened in this tick, for the audit log and the CLI
    consumed: tuple[int, ...] = ()  # request ids handled, marked done with the status
