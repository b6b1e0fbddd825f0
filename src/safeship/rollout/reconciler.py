"""The reconciler: observe once, plan (pure), persist, then act — until the rollout is over.

A controller killed between "persisted" and "acted" only replays idempotent actions on
restart, because the next tick re-plans from the persisted status.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable
from typing import Protocol

from safeship.analysis.measurement import Measurement
from safeship.config.models import AnalysisStep, MetricSpec, RolloutSpec
from safeship.core.clock import Clock
from safeship.core.errors import DeployError
from safeship.fleet.provider import Provider, Replica
from safeship.rollout.planner import plan
from safeship.rollout.state import Action, Observations, Phase, Plan, RolloutStatus, Route, Traffic
from safeship.traffic.router import Router, TrafficSplit


class MetricsSource(Protocol):
    """Where the analysis numbers come from (the router's counters, PromQL, Prometheus)."""

    async def measure(self, metric: MetricSpec, *, version: str, window: float) -> Measurement: ...


class StatusSink(Protocol):
    """Persists each plan's status and its audit trail in one transaction, before acting."""

    def record(self, plan: Plan, *, spec: RolloutSpec) -> None: ...


class Reconciler:
    def __init__(
        self,
        *,
        spec: RolloutSpec,
        provider: Provider,
        router: Router,
        metrics: MetricsSource,
        sink: StatusSink,
        clock: Clock,
        on_plan: Callable[[Plan], None] | None = None,
    ) -> None:
        self.spec, self.provider, self.router = spec, provider, router
        self.metrics, self.sink, self.clock = metrics, sink, clock
        self.on_plan = on_plan

    async def run(self, status: RolloutStatus) -> RolloutStatus:
        """Drive the rollout to a terminal phase and return its final status."""
        error: str | None = None
        while True:
            observations = await self.observe(status, action_error=error)
            step = plan(self.spec, status, observations, self.clock.now())
            self.sink.record(step, spec=self.spec)
            status = step.status
            if self.on_plan:
                self.on_plan(step)
            error = await self.execute(step.actions)
            if step.requeue_after is None:
                return status
            if error or not step.actions:
                await self.clock.sleep(step.requeue_after)

    async def observe(self, status: RolloutStatus, *, action_error: str | None) -> Observations:
        replicas = await self.provider.replicas()
        ready = Counter(r.version for r in replicas if r.healthy)
        return Observations(
            ready=dict(ready),
            traffic=_traffic(self.router.current()),
            measurements=await self._measure(status),
            action_error=action_error,
        )

    async def _measure(self, status: RolloutStatus) -> dict[str, Measurement]:
        steps = self.spec.strategy.canary.steps
        if status.phase is not Phase.PROGRESSING or status.step_index >= len(steps):
            return {}
        step = steps[status.step_index]
        if not isinstance(step, AnalysisStep):
            return {}
        window = self.spec.analysis.window
        return {
            m.name: await self.metrics.measure(m, version=status.canary_version, window=window)
            for m in self.spec.metrics_for(step)
        }

    async def execute(self, actions: Iterable[Action]) -> str | None:
        """Carry out the actions in order; stop at the first failure and say what failed."""
        for action in actions:
            try:
                if isinstance(action, Route):
                    await self.router.apply(await self._split(action))
                else:
                    await self.provider.scale(action.version, action.replicas)
            except (DeployError, OSError) as exc:
                return f"{action.describe()}: {exc}"
        return None

    async def _split(self, route: Route) -> TrafficSplit:
        replicas = [r for r in await self.provider.replicas() if r.healthy]
        stable = tuple(r for r in replicas if r.version == route.stable)
        canary = tuple(r for r in replicas if route.canary and r.version == route.canary)
        if not stable:
            raise DeployError(f"no healthy replica of {route.stable} to route traffic to")
        return TrafficSplit(stable=stable, canary=canary, canary_weight=route.weight)


def _traffic(split: TrafficSplit) -> Traffic:
    canary = _pool_version(split.canary)
    return Traffic(_pool_version(split.stable), canary, split.canary_weight if canary else 0.0)


def _pool_version(pool: Iterable[Replica]) -> str | None:
    versions = sorted({r.version for r in pool})
    return ",".join(versions) or None
