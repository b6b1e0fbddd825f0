"""The rollout spec as pydantic models: what a user writes in YAML, validated.

Field names are camelCase in YAML (as in Argo Rollouts) and snake_case in Python.
Steps are a tagged union: each list item has exactly one key naming its kind.
"""

from __future__ import annotations

import itertools
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Discriminator,
    Field,
    Tag,
    model_validator,
)
from pydantic.alias_generators import to_camel

from safeship.core.durations import parse_duration

Duration = Annotated[float, BeforeValidator(parse_duration)]
Percent = Annotated[float, Field(ge=0, le=100)]


def _listen_address(text: str) -> str:
    host, _, port = text.rpartition(":")
    if not host or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise ValueError(f"expected HOST:PORT such as 127.0.0.1:8080, found {text!r}")
    return text


ListenAddress = Annotated[str, AfterValidator(_listen_address)]


class Model(BaseModel):
    model_config = ConfigDict(
        extra="forbid", alias_generator=to_camel, populate_by_name=True, frozen=True
    )


class VersionOverrides(Model):
    """How one version differs when started: extra arguments for its command."""

    args: list[str] = []


class HealthCheckSpec(Model):
    path: str = "/health"
    timeout: Duration = 2.0


class ServiceSpec(Model):
    name: Annotated[str, Field(pattern=r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$")]
    command: Annotated[list[str], Field(min_length=1)]
    stable: str | None = None
    versions: dict[str, VersionOverrides] = {}
    env: dict[str, str] = {}
    health: HealthCheckSpec = HealthCheckSpec()

    def args_for(self, version: str) -> list[str]:
        overrides = self.versions.get(version)
        return list(overrides.args) if overrides else []


class FleetSpec(Model):
    provider: Literal["local"] = "local"
    replicas: Annotated[int, Field(ge=1, le=1000)] = 2
    start_timeout: Duration = 15.0
    stop_timeout: Duration = 5.0


class RouterSpec(Model):
    kind: Literal["embedded"] = "embedded"
    listen: ListenAddress = "127.0.0.1:8080"
    metrics_listen: ListenAddress | None = None
    drain_timeout: Duration = 30.0


BuiltinMetric = Literal["request-success-rate", "request-duration-p99", "request-rate"]


class MetricSpec(Model):
    """One judged metric. Built-ins are computed from the router's own counters."""

    name: str
    builtin: BuiltinMetric
    min: float | None = None
    max: float | None = None
    min_samples: Annotated[int, Field(ge=1)] = 20

    @model_validator(mode="after")
    def _has_threshold(self) -> MetricSpec:
        if self.min is None and self.max is None:
            raise ValueError("expected a threshold: 'min' or 'max' (or both)")
        return self


class AnalysisSpec(Model):
    """Defaults shared by every analysis step, and the metrics they may judge."""

    interval: Duration = 5.0
    window: Duration = 30.0
    metrics: list[MetricSpec] = []

    @model_validator(mode="after")
    def _unique_names(self) -> AnalysisSpec:
        names = [m.name for m in self.metrics]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ValueError(f"expected unique metric names, found {', '.join(duplicates)} twice")
        return self


class SetWeightStep(Model):
    set_weight: Percent


class PauseSpec(Model):
    duration: Duration


class PauseStep(Model):
    pause: PauseSpec


class AnalysisStepSpec(Model):
    metrics: list[str] | None = None  # names from analysis.metrics; None judges all of them
    interval: Duration | None = None
    count: Annotated[int, Field(ge=1)] = 3  # passing measurements needed to pass the step
    failure_limit: Annotated[int, Field(ge=0)] = 0
    inconclusive_limit: Annotated[int, Field(ge=0)] = 6


class AnalysisStep(Model):
    analysis: AnalysisStepSpec


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
    | Annotated[AnalysisStep, Tag("analysis")],
    Discriminator(
        _step_kind,
        custom_error_type="step_kind",
        custom_error_message="expected exactly one of setWeight, pause, analysis",
    ),
]


class CanaryStrategy(Model):
    canary_replicas: Annotated[int, Field(ge=1)] = 1
    steps: Annotated[list[Step], Field(min_length=1)]

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


class StrategySpec(Model):
    canary: CanaryStrategy


class RolloutSpec(Model):
    """A whole rollout spec file."""

    service: ServiceSpec
    fleet: FleetSpec = FleetSpec()
    router: RouterSpec = RouterSpec()
    analysis: AnalysisSpec = AnalysisSpec()
    strategy: StrategySpec

    @model_validator(mode="after")
    def _steps_name_known_metrics(self) -> RolloutSpec:
        known = {m.name for m in self.analysis.metrics}
        for step in self.strategy.canary.steps:
            if not isinstance(step, AnalysisStep):
                continue
            if not known:
                raise ValueError("expected analysis.metrics to define the metrics to judge")
            unknown = sorted(set(step.analysis.metrics or []) - known)
            if unknown:
                raise ValueError(
                    f"expected metric names from analysis.metrics ({', '.join(sorted(known))}),"
                    f" found {', '.join(unknown)}"
                )
        if self.strategy.canary.canary_replicas > self.fleet.replicas:
            raise ValueError("expected strategy.canary.canaryReplicas <= fleet.replicas")
        return self

    def metrics_for(self, step: AnalysisStep) -> list[MetricSpec]:
        wanted = step.analysis.metrics
        return [m for m in self.analysis.metrics if wanted is None or m.name in wanted]
