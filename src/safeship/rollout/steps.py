"""The common step list every strategy compiles to, and the planner executes.

A step is exactly one kind (a tagged union of frozen dataclasses): `Deploy` moves named
targets to the new version, `SetWeight` shifts canary traffic, `SetCanaryScale` sizes the
canary pool, `Pause` waits (for a duration, or until promoted), `Analysis` judges metrics,
`Verify` runs the post-deploy checks. Strategies only compile; they never act.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol


class TargetRef(Protocol):
    """What a compiler may know of a target: its name and labels (fleet.provider.Target)."""

    @property
    def name(self) -> str: ...

    @property
    def labels(self) -> Mapping[str, str]: ...


@dataclass(frozen=True)
class Deploy:
    """These targets move to the new version: drain, deploy, then wait until healthy."""

    targets: tuple[str, ...]
    label: str  # "batch 2/4", "canary targets", "wave 25%"
    canary: bool = False  # canary targets of a waves rollout (the tracker shows them so)
    parallel: int = 1  # targets taken down at once
    drain: bool = True  # take traffic away before deploying (False with surge)
    health_timeout: float = 30.0


@dataclass(frozen=True)
class SetWeight:
    weight: float


@dataclass(frozen=True)
class SetCanaryScale:
    replicas: int


@dataclass(frozen=True)
class Pause:
    duration: float | None  # None: until someone promotes


@dataclass(frozen=True)
class Analysis:
    """Measure every `interval`; pass after `count` passes; fail beyond `failure_limit`.

    With `consecutive`, only an unbroken run of failures counts (trafficSplit's "N failed
    checks in a row"). Without metrics the check is health only: every new replica is ready.
    """

    metrics: tuple[str, ...] | None = None
    interval: float | None = None
    count: int = 3
    failure_limit: int = 0
    inconclusive_limit: int = 6
    consecutive: bool = False


@dataclass(frozen=True)
class Verify:
    """Every new replica reports the expected version; the smoke command passes."""


Step = Deploy | SetWeight | SetCanaryScale | Pause | Analysis | Verify


def describe(step: Step) -> str:
    if isinstance(step, Deploy):
        return f"deploy {step.label} ({len(step.targets)} targets)"
    if isinstance(step, SetWeight):
        return f"set canary weight to {step.weight:g}%"
    if isinstance(step, SetCanaryScale):
        return f"scale canary to {step.replicas} replicas"
    if isinstance(step, Pause):
        return f"pause {step.duration:g}s" if step.duration is not None else "pause until promoted"
    if isinstance(step, Analysis):
        return f"analysis ({', '.join(step.metrics) if step.metrics else 'all metrics'})"
    return "verify the new version"


def deployed_before(steps: Sequence[Step], index: int) -> list[str]:
    """Targets moved to the new version by the steps before `index`, in deploy order."""
    return [t for step in steps[:index] if isinstance(step, Deploy) for t in step.targets]
