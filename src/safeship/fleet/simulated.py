"""The `simulated` fleet: targets and pools that live in virtual time, and the world model.

It sits where the local provider sits in the data flow, so the same reconciler and planner
run against it (`traffic.simulated` is its router, `metrics.sources.simulated` its flaky metrics
source). Deploys take a sampled time on the injected clock (a `FakeClock` in the simulator)
and fail with a per-target probability. Everything random comes from one seeded generator:
same seed, same flight.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np

from safeship.core.clock import Clock
from safeship.core.errors import DeployError
from safeship.core.types import MAIN, Replica, Role, Target


@dataclass(frozen=True)
class VersionBehaviour:
    """How a version answers: the share of 5xx and the median latency (log-normal spread)."""

    error_ratio: float = 0.0
    latency_ms: float = 20.0
    latency_spread: float = 0.35  # sigma of log(latency)
    start_fail: float = 0.0  # probability that an instance of this version fails to start


@dataclass(frozen=True)
class FleetModel:
    """What the simulated world is like; the simulator's faults change it."""

    deploy_time_s: float = 5.0  # mean time from "deploy" to healthy
    deploy_jitter_s: float = 1.0  # standard deviation of that time
    target_fail: float = 0.0  # probability that one deploy fails
    request_rate: float = 100.0  # requests per second through the router, all versions
    behaviours: Mapping[str, VersionBehaviour] = field(default_factory=dict)
    metrics_down: tuple[float, float] | None = None  # (from, until) seconds after the start

    def behaviour(self, version: str) -> VersionBehaviour:
        return self.behaviours.get(version, VersionBehaviour())


class SimulatedProvider:
    """N named targets and anonymous pools; implements `Provider` in virtual time.

    Concurrent deploys started at the same virtual moment overlap: each waits only until its
    own finish time, so a parallel wave takes its slowest deploy, not the sum.
    """

    def __init__(
        self,
        *,
        service: str,
        model: FleetModel,
        clock: Clock,
        rng: np.random.Generator,
        targets: Mapping[str, Mapping[str, str]] | None = None,
        running: str | None = None,
        pools: Mapping[str, int] | None = None,
    ) -> None:
        """`targets` maps names to labels; each starts running `running`; `pools` are
        anonymous replicas already up per version (the stable fleet of traffic strategies)."""
        self.service, self.model, self.clock, self.rng = service, model, clock, rng
        self._labels = {name: dict(labels) for name, labels in (targets or {}).items()}
        self._targets = {name: self._target(name, running) for name in self._labels}
        self._pools: Counter[tuple[str, Role]] = Counter(
            {(version, MAIN): count for version, count in (pools or {}).items()}
        )
        self._replicas: list[Replica] | None = None  # rebuilt only after a change
        self.deploys = 0
        self.failures = 0

    async def replicas(self) -> list[Replica]:
        if self._replicas is None:
            # Once per change, not per tick: observing 100,000 targets must stay cheap.
            pooled = [
                Replica(_pool_id(self.service, v, role, i), v, "simulated", 0, role=role)
                for (v, role), count in sorted(self._pools.items())
                for i in range(1, count + 1)
            ]
            on_targets = [t.replica for t in self._targets.values() if t.replica]
            self._replicas = on_targets + pooled
        return list(self._replicas)

    async def targets(self) -> list[Target]:
        return list(self._targets.values())

    def _target(self, name: str, version: str | None) -> Target:
        replica = Replica(name, version, "simulated", 0) if version else None
        return Target(name, self._labels[name], version, version is not None, replica)

    async def scale(self, version: str, count: int, *, role: Role = MAIN) -> list[Replica]:
        key = (version, role)
        missing = count - self._pools[key]
        if missing > 0:
            started = sum(1 for ok in await self._start(missing, version) if ok)
            self._pools[key] += started
            self._replicas = None
            if started < missing:
                raise DeployError(f"{missing - started} of {missing} replicas of {version} failed")
        elif missing < 0:
            self._pools[key] = count
            self._replicas = None
        prefix = _pool_id(self.service, version, role, 0)[:-1]
        return [r for r in await self.replicas() if r.id.startswith(prefix)]

    async def deploy(self, target: str, version: str | None) -> Target:
        if self._targets[target].version != version:  # an unknown name raises KeyError
            ok = (await self._start(1, version))[0] if version else True
            self._targets[target] = self._target(target, version if ok else None)
            self._replicas = None
            if not ok:
                raise DeployError(f"{version} failed to start on {target} (simulated)")
        return self._targets[target]

    async def _start(self, count: int, version: str) -> list[bool]:
        """Start `count` instances in parallel: wait for the slowest, report which came up."""
        begun = self.clock.now()
        await asyncio.sleep(0)  # let deploys issued at this same moment note the same start
        times = self.rng.normal(self.model.deploy_time_s, self.model.deploy_jitter_s, count)
        fail = 1 - (1 - self.model.target_fail) * (1 - self.model.behaviour(version).start_fail)
        outcomes = self.rng.random(count) >= fail
        self.deploys += count
        self.failures += int(count - outcomes.sum())
        remaining = begun + float(np.clip(times, 0.1, None).max()) - self.clock.now()
        if remaining > 0:  # a deploy of the same moment already waited past our finish
            await self.clock.sleep(remaining)
        return [bool(o) for o in outcomes]

    async def close(self) -> None:
        self._pools.clear()
        self._replicas = None


def _pool_id(service: str, version: str, role: Role, index: int) -> str:
    kind = "pool" if role == MAIN else role
    return f"{service}-{version}-{kind}-{index}"
