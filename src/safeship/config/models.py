"""The rollout spec as pydantic models: what a user writes in YAML, validated.

Field names are camelCase in YAML (as in Argo Rollouts) and snake_case in Python.
Steps are a tagged union: each list item has exactly one key naming its kind; the strategy
section lives in config/strategies.py.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterator
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BeforeValidator,
    Field,
    ModelWrapValidatorHandler,
    model_validator,
)

from safeship.config.base import Duration, ListenAddress, Model, located_error
from safeship.config.checks import Checks
from safeship.config.incidents import ScaleAction
from safeship.config.metrics import CompareSpec, ControlPlaneConfig, MetricsSpec, metric_problem
from safeship.config.strategies import (
    AnalysisStep,
    AnalysisStepSpec,
    CanaryStrategy,
    PauseSpec,
    PauseStep,
    SetCanaryScaleStep,
    SetWeightStep,
    Step,
    StrategySpec,
    VerifyStep,
)
from safeship.core.secrets import reference

__all__ = [
    "AnalysisStep",
    "AnalysisStepSpec",
    "CanaryStrategy",
    "PauseSpec",
    "PauseStep",
    "SetCanaryScaleStep",
    "SetWeightStep",
    "Step",
    "StrategySpec",
    "VerifyStep",
]


def _network(text: str) -> str:
    try:
        ipaddress.ip_network(text, strict=False)
    except ValueError as exc:
        raise ValueError(f"expected a CIDR such as 10.0.0.0/8, found {text!r}") from exc
    return text


class VersionOverrides(Model):
    """How one version differs when started: extra arguments for its command."""

    args: list[str] = Field(default_factory=list)


class HealthCheckSpec(Model):
    path: str = "/health"
    timeout: Duration = 2.0


def _env_value(value: object) -> object:
    """`{secretRef: NAME}` means `${NAME}`: a value taken from the environment at start."""
    if isinstance(value, dict) and list(value) == ["secretRef"]:
        name = value["secretRef"]
        if not isinstance(name, str) or reference("${" + name + "}") is None:
            raise ValueError(f"expected secretRef to name an environment variable, found {name!r}")
        return "${" + name + "}"
    return value


# A literal, or a reference (`${NAME}`, `{secretRef: NAME}`) kept as such: see core/secrets.py.
EnvValue = Annotated[str, BeforeValidator(_env_value)]


class ServiceSpec(Model):
    name: Annotated[str, Field(pattern=r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$")]
    command: Annotated[list[str], Field(min_length=1)]
    stable: str | None = None
    versions: dict[str, VersionOverrides] = Field(default_factory=dict)
    env: dict[str, EnvValue] = Field(default_factory=dict)
    health: HealthCheckSpec = HealthCheckSpec()

    def args_for(self, version: str) -> list[str]:
        overrides = self.versions.get(version)
        return list(overrides.args) if overrides else []


class FleetSpec(Model):
    provider: Literal["local"] = "local"
    replicas: Annotated[int, Field(ge=1, le=1000)] = 2
    start_timeout: Duration = 15.0
    stop_timeout: Duration = 5.0
    labels: dict[str, dict[str, str]] = Field(
        default_factory=dict
    )  # target name → labels, for waves' selectors

    def target_names(self, service: str) -> list[str]:
        """The local fleet's targets: one slot per replica, `{service}-{i}`."""
        return [f"{service}-{i}" for i in range(self.replicas)]


class RouterSpec(Model):
    """Who steers traffic: safeship's `embedded` proxy, or `none` (a load balancer safeship
    does not steer; target strategies only, and no router series to measure)."""

    kind: Literal["embedded", "none"] = "embedded"
    listen: ListenAddress = "127.0.0.1:8080"
    metrics_listen: ListenAddress | None = None
    drain_timeout: Duration = 30.0
    # what the router waits for: see docs/operations.md (router section)
    idle_timeout: Annotated[Duration, Field(gt=0)] = 60.0
    header_timeout: Annotated[Duration, Field(gt=0)] = 10.0
    response_timeout: Annotated[Duration, Field(gt=0)] = 60.0
    max_connections: Annotated[int, Field(ge=1)] | None = None  # per backend; None: no cap
    # what the router accepts from clients (bytes): see traffic/proxy/limits.py
    max_request_line: Annotated[int, Field(ge=1)] = 8 * 1024
    max_header_bytes: Annotated[int, Field(ge=1)] = 32 * 1024
    max_headers: Annotated[int, Field(ge=1)] = 100
    max_body_bytes: Annotated[int, Field(ge=1)] = 8 * 1024 * 1024
    max_pipelined: Annotated[int, Field(ge=1)] = 16
    max_pipelined_bytes: Annotated[int, Field(ge=0)] = 64 * 1024
    max_buffered_bytes: Annotated[int, Field(ge=1)] = 32 * 1024 * 1024
    trusted_proxies: list[Annotated[str, AfterValidator(_network)]] = Field(default_factory=list)


BuiltinMetric = Literal["request-success-rate", "request-duration-p99", "request-rate"]


class MetricSpec(Model):
    """One judged metric: a built-in over the router's series or a PromQL `query`, judged by
    thresholds (min/max, failIf/successIf) or against the baseline (`compare`)."""

    name: str
    builtin: BuiltinMetric | None = None
    query: str | None = None  # PromQL; {{version}}, {{service}}, {{window}} are filled in
    fail_if: str | None = None
    success_if: str | None = None
    compare: CompareSpec | None = None
    min: float | None = None
    max: float | None = None
    # The data floor: fewer requests (or samples, with `samplesQuery`) behind a value is
    # inconclusive, never a pass. Both sides of a `compare` need it.
    min_samples: Annotated[int, Field(ge=1)] = 20
    samples_query: str | None = None  # PromQL: the samples behind a `query` (default: requests)
    weight: Annotated[float, Field(ge=0)] = 1.0  # its share of the score (analysis.score)
    critical: bool = False  # with a score: failing it fails the measurement whatever the score

    @property
    def cumulative(self) -> bool:
        """Judged on everything since the analysis started under the current traffic split
        (anytime-valid sequential tests), not on the sliding window."""
        return self.compare is not None and self.compare.test == "sequential"

    @model_validator(mode="after")
    def _has_threshold(self) -> MetricSpec:
        problem = metric_problem(self)
        if problem:
            raise ValueError(problem)
        if self.samples_query is not None and self.query is None:
            raise ValueError("expected 'samplesQuery' only beside a 'query'")
        return self


class ScoreSpec(Model):
    """Kayenta-style score: a measurement passes at `pass` or more (weighted percent of
    metrics that passed), is marginal (paused for a person) at `marginal` or more, else fails."""

    pass_: Annotated[float, Field(ge=0, le=100, alias="pass")] = 95.0
    marginal: Annotated[float, Field(ge=0, le=100)] = 75.0

    @model_validator(mode="after")
    def _ordered(self) -> ScoreSpec:
        if self.marginal > self.pass_:
            raise ValueError(f"expected marginal <= pass, found {self.marginal:g} > {self.pass_:g}")
        return self


class AnalysisSpec(Model):
    """Defaults shared by every analysis step, and the metrics they may judge."""

    interval: Duration = 5.0
    window: Duration = 30.0
    metrics: list[MetricSpec] = Field(default_factory=list)
    score: ScoreSpec | None = None  # None: any failed metric fails the measurement

    @model_validator(mode="after")
    def _unique_names(self) -> AnalysisSpec:
        names = [m.name for m in self.metrics]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ValueError(f"expected unique metric names, found {', '.join(duplicates)} twice")
        return self


class VerifySpec(Model):
    """Post-deploy verification: every new replica reports the version, a smoke test passes.

    Commands may use {host}, {port}, {url} and {version}; they pass with exit code 0.
    """

    version_path: str | None = "/version"  # GET answers the version in its body
    version_command: list[str] | None = None  # instead of version_path: prints the version
    smoke: list[str] | None = None  # run once against the new version (its first replica)
    timeout: Duration = 10.0


class RolloutSpec(Model):
    """A whole rollout spec file."""

    service: ServiceSpec
    fleet: FleetSpec = FleetSpec()
    router: RouterSpec = RouterSpec()
    analysis: AnalysisSpec = AnalysisSpec()
    metrics: MetricsSpec = MetricsSpec()  # where analysis queries go (embedded or Prometheus)
    verify: VerifySpec | None = None
    validation: Checks = Field(
        default_factory=list
    )  # pre-deployment checks (rollout/validation.py runs them)
    strategy: StrategySpec

    @model_validator(mode="wrap")
    @classmethod
    def _cross_checks(cls, data: Any, handler: ModelWrapValidatorHandler[RolloutSpec]) -> Any:
        spec = handler(data)
        problems = list(spec._problems())
        if problems:
            raise located_error(cls.__name__, problems)
        return spec

    def _problems(self) -> Iterator[tuple[tuple[str | int, ...], str, Any]]:
        yield from self._metric_problems()
        yield from self._target_problems()
        yield from self._router_problems()

    def _metric_problems(self) -> Iterator[tuple[tuple[str | int, ...], str, Any]]:
        known = {m.name for m in self.analysis.metrics}
        for loc, names in self._analysis_uses():
            if not known:
                yield loc, "expected analysis.metrics to define the metrics to judge", names
                continue
            unknown = sorted(set(names or []) - known)
            if unknown:
                expected = f"metric names from analysis.metrics ({', '.join(sorted(known))})"
                yield loc, f"expected {expected}, found {', '.join(unknown)}", names

    def _analysis_uses(self) -> Iterator[tuple[tuple[str | int, ...], list[str] | None]]:
        """Every place that judges metrics, with the metric names it asks for."""
        s = self.strategy
        if s.canary:
            for i, step in enumerate(s.canary.steps):
                if isinstance(step, AnalysisStep):
                    at = ("strategy", "canary", "steps", i, "analysis")
                    yield at, step.analysis.metrics
        specs = {
            "rolling": s.rolling and s.rolling.analysis,
            "waves": s.waves and s.waves.analysis,
            "blueGreen": s.blue_green and s.blue_green.analysis,
        }
        for name, spec in specs.items():
            if spec:
                yield ("strategy", name, "analysis"), spec.metrics
        if s.waves and s.waves.canary_analysis:
            yield ("strategy", "waves", "canaryAnalysis"), s.waves.canary_analysis.metrics
        if s.traffic_split and s.traffic_split.metrics is not None:
            yield ("strategy", "trafficSplit", "metrics"), s.traffic_split.metrics

    def _target_problems(self) -> Iterator[tuple[tuple[str | int, ...], str, Any]]:
        at: tuple[str | int, ...]
        names = self.fleet.target_names(self.service.name)
        canary = self.strategy.canary
        if canary and canary.canary_replicas > self.fleet.replicas:
            at = ("strategy", "canary", "canaryReplicas")
            yield at, "expected canaryReplicas <= fleet.replicas", canary.canary_replicas
        unknown = sorted(set(self.fleet.labels) - set(names))
        if unknown:
            yield ("fleet", "labels"), f"expected targets from {names}, found {unknown}", unknown
        waves = self.strategy.waves
        if waves and waves.canary.names is not None:
            missing = sorted(set(waves.canary.names) - set(names))
            if missing:
                at = ("strategy", "waves", "canary", "names")
                yield at, f"expected targets from {names}, found {missing}", missing
        if waves and waves.canary.selector is not None and not self.selected(waves.canary.selector):
            at = ("strategy", "waves", "canary", "selector")
            yield at, "expected a selector matching fleet.labels, found none", waves.canary.selector

    def _router_problems(self) -> Iterator[tuple[tuple[str | int, ...], str, Any]]:
        """Router `none` steers nothing: only target strategies, and no built-in metrics
        (they are measured from the router's series, which nothing produces then)."""
        if self.router.kind != "none":
            return
        if not self.strategy.targets_based:
            expected = "strategy rolling or waves with router kind none"
            yield ("router", "kind"), f"expected {expected}, found {self.strategy.name}", "none"
        for i, metric in enumerate(self.analysis.metrics):
            if metric.builtin is not None:
                at = ("analysis", "metrics", i, "builtin")
                expected = "a query metric with router kind none (no router series to measure)"
                yield at, f"expected {expected}, found builtin {metric.builtin}", metric.builtin

    def selected(self, selector: dict[str, str]) -> list[str]:
        """The fleet's targets whose labels contain every key=value of `selector`."""
        return [
            name
            for name in self.fleet.target_names(self.service.name)
            if selector.items() <= self.fleet.labels.get(name, {}).items()
        ]

    def metrics_named(self, wanted: list[str] | None) -> list[MetricSpec]:
        return [m for m in self.analysis.metrics if wanted is None or m.name in wanted]

    def metrics_for(self, step: AnalysisStep) -> list[MetricSpec]:
        return self.metrics_named(step.analysis.metrics)


class SafeshipConfig(ControlPlaneConfig):
    """safeship.yaml: the control plane's settings and `services`, each exactly a rollout
    spec (service, fleet, router, analysis, strategy), so a spec file pastes in as an entry."""

    services: list[RolloutSpec] = Field(default_factory=list)

    @model_validator(mode="after")
    def _unique_services(self) -> SafeshipConfig:
        names = [s.service.name for s in self.services]
        twice = sorted({n for n in names if names.count(n) > 1})
        if twice:
            raise ValueError(f"expected unique service names, found {', '.join(twice)} twice")
        unrouted = [s.service.name for s in self.services if s.router.kind != "embedded"]
        if unrouted:
            raise ValueError(
                "expected router kind embedded for the services the control plane runs on"
                f" the agent, found none for {', '.join(unrouted)} (use `safeship run` there)"
            )
        self._scale_declared(set(names))
        return self

    def _scale_declared(self, names: set[str]) -> None:
        """A `scale` incident action scales a service this control plane runs."""
        problems = [
            (
                ("incidents", "definitions", i, "actions", j),
                f"expected a service of services ({', '.join(sorted(names)) or 'none'}),"
                f" found scale of {d.service}",
                a.model_dump(by_alias=True),
            )
            for i, d in enumerate(self.incidents.definitions)
            for j, a in enumerate(d.actions)
            if isinstance(a, ScaleAction) and d.service not in names
        ]
        if problems:
            raise located_error(type(self).__name__, problems)

    def service(self, name: str) -> RolloutSpec | None:
        return next((s for s in self.services if s.service.name == name), None)
