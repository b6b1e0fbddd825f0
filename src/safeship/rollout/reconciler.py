"""The reconciler: observe once, plan (pure), persist, then act — until the rollout is over.

A controller killed between "persisted" and "acted" only replays idempotent actions on
restart, because the next tick re-plans from the persisted status. While it waits between
ticks it polls for people's requests, so a gate (abort, promote...) acts within `poll`.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Awaitable, Callable, Iterable, Sequence
from typing import Protocol

from safeship.analysis.measurement import Measurement
from safeship.config.models import RolloutSpec, VerifySpec
from safeship.core.clock import Clock
from safeship.core.errors import DeployError
from safeship.core.types import BASELINE, MAIN, Replica, Target, TrafficSplit
from safeship.fleet.provider import Provider
from safeship.metrics.sources.base import MetricsSource
from safeship.rollout.judging import measurement_span
from safeship.rollout.planner import plan
from safeship.rollout.state import (
    Action,
    DeployTarget,
    Observations,
    Phase,
    Plan,
    Request,
    RolloutStatus,
    Route,
    Scale,
    Traffic,
    VerifyResult,
    ready_key,
)
from safeship.rollout.steps import Analysis, Step, Verify
from safeship.rollout.strategies import compile_steps
from safeship.rollout.verification import verify
from safeship.traffic.router import Router


class StatusSink(Protocol):
    """Persists each plan's status and its audit trail in one transaction, before acting."""

    def record(self, plan: Plan, *, spec: RolloutSpec) -> None: ...


class RequestSource(Protocol):
    """People's pending commands to a rollout (written by `safeship pause|abort|...`)."""

    def pending(self, rollout_id: str) -> list[Request]: ...


Verifier = Callable[[VerifySpec, Sequence[Replica], str], Awaitable[VerifyResult]]


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
        requests: RequestSource | None = None,
        poll: float = 0.25,
        verifier: Verifier = verify,  # the simulator passes one that asks no real replica
    ) -> None:
        self.spec, self.provider, self.router = spec, provider, router
        self.metrics, self.sink, self.clock = metrics, sink, clock
        self.on_plan, self.requests, self.poll = on_plan, requests, poll
        self.verifier = verifier

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
                await self._wait(status.rollout_id, step.requeue_after)

    async def _wait(self, rollout_id: str, seconds: float) -> None:
        """Sleep until the next tick is due, or until someone sends a request."""
        if self.requests is None:
            await self.clock.sleep(seconds)
            return
        deadline = self.clock.now() + seconds
        while (left := deadline - self.clock.now()) > 0:
            await self.clock.sleep(min(left, self.poll))
            if self.requests.pending(rollout_id):
                return

    async def observe(self, status: RolloutStatus, *, action_error: str | None) -> Observations:
        replicas = await self.provider.replicas()
        targets = tuple(await self.provider.targets()) if self.spec.strategy.targets_based else ()
        steps = compile_steps(self.spec, targets)
        pending = self.requests.pending(status.rollout_id) if self.requests else []
        return Observations(
            ready=dict(Counter(ready_key(r.version, r.role) for r in replicas if r.healthy)),
            traffic=_traffic(self.router.current()),
            measurements=await self._measure(steps, status),
            action_error=action_error,
            targets=targets,
            requests=tuple(pending),
            verification=await self._verify(steps, status, replicas),
        )

    async def _measure(
        self, steps: Sequence[Step], status: RolloutStatus
    ) -> dict[str, Measurement]:
        step = _current(steps, status)
        if isinstance(step, Analysis) and status.phase is Phase.PROGRESSING:
            wanted = list(step.metrics) if step.metrics is not None else None
        elif _rolling_back_gradually(status) and status.rollback_wave_at is not None:
            wanted = None  # a wave has settled: has the trigger cleared since?
        else:
            return {}
        found: dict[str, Measurement] = {}
        for metric in self.spec.metrics_named(wanted):
            window, since = measurement_span(
                metric, status, window=self.spec.analysis.window, now=self.clock.now()
            )
            found[metric.name] = await self.metrics.measure(
                metric, version=status.canary_version, window=window, since=since
            )
        return found

    async def _verify(
        self, steps: Sequence[Step], status: RolloutStatus, replicas: list[Replica]
    ) -> VerifyResult | None:
        step = _current(steps, status)
        if not isinstance(step, Verify) or status.phase is not Phase.PROGRESSING:
            return None
        if self.spec.verify is None:
            return VerifyResult(False, "a verify step needs the spec's verify section")
        new = [
            r
            for r in replicas
            if r.version == status.canary_version and r.healthy and r.role == MAIN
        ]
        return await self.verifier(self.spec.verify, new, status.canary_version)

    async def execute(self, actions: Iterable[Action]) -> str | None:
        """Carry out the actions in order (target deploys side by side); stop at a failure."""
        for group in _groups(actions):
            try:
                await asyncio.gather(*(self._one(a) for a in group))
            except (DeployError, OSError, KeyError) as exc:
                return f"{' and '.join(a.describe() for a in group[:3])}: {exc}"
        return None

    async def _one(self, action: Action) -> None:
        if isinstance(action, Route):
            await self.router.apply(await self._split(action))
        elif isinstance(action, DeployTarget):
            await self.provider.deploy(action.target, action.version)
        else:
            await self.provider.scale(action.version, action.replicas, role=action.role)

    async def _split(self, route: Route) -> TrafficSplit:
        replicas = [r for r in await self.provider.replicas() if r.healthy]
        if route.members is not None:
            replicas = [r for r in replicas if r.id in route.members]
        main = [r for r in replicas if r.role == MAIN]
        stable = tuple(r for r in main if r.version == route.stable)
        canary = tuple(r for r in main if route.canary and r.version == route.canary)
        if not stable:
            raise DeployError(f"no healthy replica of {route.stable} to route traffic to")
        baseline = (
            tuple(r for r in replicas if r.role == BASELINE and r.version == route.stable)
            if route.baseline_weight > 0
            else ()
        )
        return TrafficSplit(
            stable=stable,
            canary=canary,
            canary_weight=route.weight,
            baseline=baseline,
            baseline_weight=route.baseline_weight if baseline else 0.0,
        )


def _groups(actions: Iterable[Action]) -> list[list[Action]]:
    """Consecutive target deploys form one group (run together); every other action is alone."""
    groups: list[list[Action]] = []
    for action in actions:
        if isinstance(action, DeployTarget) and groups and isinstance(groups[-1][0], DeployTarget):
            groups[-1].append(action)
        else:
            groups.append([action])
    return groups


def _current(steps: Sequence[Step], status: RolloutStatus) -> Step | None:
    return steps[status.step_index] if status.step_index < len(steps) else None


def _rolling_back_gradually(status: RolloutStatus) -> bool:
    return (
        status.phase is Phase.ROLLING_BACK
        and status.rollback_mode == "gradual"
        and status.rollback_trigger is not None
        and status.rollback_trigger.clearable
    )


def _traffic(split: TrafficSplit) -> Traffic:
    canary = _pool_version(split.canary)
    members = frozenset(r.id for r in (*split.stable, *split.canary, *split.baseline))
    weight = split.canary_weight if canary else 0.0
    baseline = split.baseline_weight if canary and split.baseline else 0.0
    return Traffic(_pool_version(split.stable), canary, weight, members, baseline)


def _pool_version(pool: Iterable[Replica]) -> str | None:
    versions = sorted({r.version for r in pool})
    return ",".join(versions) or None


__all__ = ["Reconciler", "RequestSource", "Scale", "StatusSink", "Target"]
