"""The strategy section of a rollout spec: exactly one of canary, rolling, waves, trafficSplit,
blueGreen. Each is compiled into the common step list by `rollout/strategies/<name>.py`.

Canary steps are a tagged union written by the user; the other strategies are described by a
few numbers and the compiler writes their steps.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from typing import Annotated, Any, Literal

from pydantic import BaseModel, Discriminator, Field, Tag, field_validator, model_validator
from pydantic.alias_generators import to_camel

from safeship.config.base import Duration, Model, Percent

Count = Annotated[int, Field(ge=1)]
Share = Annotated[float, Field(gt=0, le=100)]  # percent of the fleet or of the traffic
Shares = Annotated[list[Share], Field(min_length=1)]
DEFAULT_WAVES = (5.0, 25.0, 50.0, 75.0, 100.0)
DEFAULT_STAGES = (5.0, 25.0, 50.0, 75.0, 90.0, 100.0)


class SetWeightStep(Model):
    set_weight: Percent


class PauseSpec(Model):
    duration: Duration | None = None  # None: paused until someone promotes


class PauseStep(Model):
    pause: PauseSpec


class CanaryScaleSpec(Model):
    replicas: Annotated[int, Field(ge=0)]


class SetCanaryScaleStep(Model):
    set_canary_scale: CanaryScaleSpec


class AnalysisStepSpec(Model):
    metrics: list[str] | None = None  # names from analysis.metrics; None judges all of them
    interval: Duration | None = None
    count: Count = 3  # passing measurements needed to pass the step
    failure_limit: Annotated[int, Field(ge=0)] = 0
    inconclusive_limit: Annotated[int, Field(ge=0)] = 6


class AnalysisStep(Model):
    analysis: AnalysisStepSpec


class VerifyStepSpec(Model):
    """Post-deploy checks; the details (version path, smoke command) live in `verify`."""


class VerifyStep(Model):
    verify: VerifyStepSpec


def _step_kind(value: Any) -> str | None:
    if isinstance(value, dict):
        keys = list(value)
        return keys[0] if len(keys) == 1 else None
    if isinstance(value, BaseModel):  # built in Python rather than loaded from YAML
        return to_camel(next(iter(type(value).model_fields)))
    return None


Step = Annotated[
    Annotated[SetWeightStep, Tag("setWeight")]
    | Annotated[PauseStep, Tag("pause")]
    | Annotated[AnalysisStep, Tag("analysis")]
    | Annotated[SetCanaryScaleStep, Tag("setCanaryScale")]
    | Annotated[VerifyStep, Tag("verify")],
    Discriminator(
        _step_kind,
        custom_error_type="step_kind",
        custom_error_message=(
            "expected exactly one of setWeight, pause, analysis, setCanaryScale, verify"
        ),
    ),
]


class BaselineSpec(Model):
    """What a pool strategy's canary is compared with (metrics with `compare`).

    stable: the stable pool's own series (cheap, but long-running replicas differ from fresh
    ones: warm caches, leaks). fresh: Kayenta's setup, a new pool of the stable version as
    big as the canary, given the canary's share of traffic, removed when the rollout ends.
    """

    pool: Literal["stable", "fresh"] = "stable"


def _increasing(values: Sequence[float], what: str) -> None:
    for index, (before, after) in enumerate(itertools.pairwise(values), start=1):
        if after <= before:
            raise ValueError(
                f"expected {what} values to increase, found {what}[{index}] {after:g}"
                f" after {before:g}"
            )


class CanaryStrategy(Model):
    canary_replicas: Annotated[int, Field(ge=1)] = 1
    steps: Annotated[list[Step], Field(min_length=1)]
    baseline: BaselineSpec = BaselineSpec()

    @model_validator(mode="after")
    def _weights_increase(self) -> CanaryStrategy:
        weights = [
            (i, s.set_weight) for i, s in enumerate(self.steps) if isinstance(s, SetWeightStep)
        ]
        for (_, before), (index, after) in itertools.pairwise(weights):
            if after <= before:
                raise ValueError(
                    "expected setWeight values to increase,"
                    f" found steps[{index}] setWeight {after:g} after {before:g}"
                )
        return self


BatchSize = Annotated[int, Field(ge=1)] | Annotated[str, Field(pattern=r"^\d+(\.\d+)?%$")]


def share_of(size: int | str, total: int) -> int:
    """A count or a percentage of `total`, at least 1 (a batch of nobody would never finish)."""
    if isinstance(size, int):
        return max(1, min(size, total))
    return max(1, min(total, round(total * float(size.rstrip("%")) / 100)))


class RollingStrategy(Model):
    """Targets in batches: drain → deploy → health gate (and optional analysis) per batch."""

    batch_size: BatchSize = 1
    max_unavailable: BatchSize = 1  # targets of a batch taken down at once
    max_surge: Annotated[int, Field(ge=0)] = 0  # >0: start the new version before draining
    health_timeout: Duration = 30.0
    pause_between_batches: Duration = 0.0
    analysis: AnalysisStepSpec | None = None


class CanaryTargets(Model):
    """Which targets go first: exactly one of a count, a label selector, explicit names."""

    count: Count | None = None
    selector: dict[str, str] | None = None
    names: list[str] | None = None

    @model_validator(mode="after")
    def _exactly_one(self) -> CanaryTargets:
        given = [k for k in ("count", "selector", "names") if getattr(self, k) is not None]
        if len(given) != 1:
            raise ValueError(f"expected exactly one of count, selector, names, found {given}")
        return self


class WavesStrategy(Model):
    """Canary targets first, then waves by share of the fleet, checked between waves."""

    canary: CanaryTargets = CanaryTargets(count=1)
    waves: Shares = Field(default_factory=lambda: list(DEFAULT_WAVES))
    health_timeout: Duration = 30.0
    pause_between_waves: Duration = 0.0
    max_unavailable: BatchSize = "100%"
    canary_analysis: AnalysisStepSpec | None = None  # enhanced analysis on canary targets
    analysis: AnalysisStepSpec | None = None  # success criteria between waves

    @field_validator("waves")
    @classmethod
    def _waves_increase(cls, waves: list[float]) -> list[float]:
        _increasing(waves, "waves")
        return waves


class TrafficSplitStrategy(Model):
    """Canary weight in stages; a check every interval; advance after a stable period."""

    stages: Shares = Field(default_factory=lambda: list(DEFAULT_STAGES))
    canary_replicas: Annotated[int, Field(ge=1)] = 1
    interval: Duration = 10.0
    stability_period: Duration = 60.0
    failure_threshold: Count = 3  # consecutive failed checks that roll back
    metrics: list[str] | None = None
    baseline: BaselineSpec = BaselineSpec()

    @field_validator("stages")
    @classmethod
    def _stages_increase(cls, stages: list[float]) -> list[float]:
        _increasing(stages, "stages")
        return stages


class BlueGreenStrategy(Model):
    """Green beside blue at full size, analysed, switched at once, blue kept for a while."""

    preview_weight: Percent = 0.0  # share of live traffic green sees before the switch
    analysis: AnalysisStepSpec | None = None
    auto_promote: bool = True  # False: pause before the switch until someone promotes
    rollback_window: Duration = 30.0


STRATEGY_NAMES = ("canary", "rolling", "waves", "trafficSplit", "blueGreen")


class StrategySpec(Model):
    canary: CanaryStrategy | None = None
    rolling: RollingStrategy | None = None
    waves: WavesStrategy | None = None
    traffic_split: TrafficSplitStrategy | None = None
    blue_green: BlueGreenStrategy | None = None

    @model_validator(mode="after")
    def _exactly_one(self) -> StrategySpec:
        given = self._given()
        if len(given) != 1:
            found = ", ".join(to_camel(k) for k in given) or "none"
            raise ValueError(f"expected exactly one of {', '.join(STRATEGY_NAMES)}, found {found}")
        return self

    def _given(self) -> list[str]:
        return [k for k in type(self).model_fields if getattr(self, k) is not None]

    @property
    def name(self) -> str:
        return to_camel(self._given()[0])

    @property
    def fresh_baseline(self) -> bool:
        """A fresh baseline pool runs beside the canary (canary and trafficSplit only)."""
        pool = self.canary or self.traffic_split
        return pool is not None and pool.baseline.pool == "fresh"

    @property
    def targets_based(self) -> bool:
        return self.rolling is not None or self.waves is not None
