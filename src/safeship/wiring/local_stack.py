"""Wiring of a local stack: a spec becomes a local fleet, a router and its signal path.

Where it sits: under `safeship run` and `safeship demo` (through `wiring/run.py`), it builds
the "world" end of the data flow — the local provider's replicas, the router `spec.router.kind`
names (`traffic.router.router_for`) and the MetricsSource analysis measures with
(`wiring/signals.py`) — and keeps them alive as long as the process. It decides nothing.
"""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

from safeship.config.models import RolloutSpec
from safeship.core.addresses import http_url, split_host_port
from safeship.core.clock import Clock, SystemClock
from safeship.core.secrets import resolve_env
from safeship.core.types import Replica, TrafficSplit
from safeship.fleet.local import Handover, LocalProvider
from safeship.metrics.sources.base import MetricsSource
from safeship.rollout.metrics import RolloutCollector, RolloutView
from safeship.rollout.strategies import local_targets
from safeship.rollout.targets import handover_split
from safeship.traffic.nop import NopRouter
from safeship.traffic.proxy.embedded import EmbeddedRouter
from safeship.traffic.router import Router, metrics_listen, router_for
from safeship.wiring.signals import local_signals, router_metrics_url


@dataclass
class LocalStack:
    """A running local fleet with its router: lives as long as the process that made it."""

    spec: RolloutSpec
    provider: LocalProvider
    router: EmbeddedRouter | NopRouter
    metrics: MetricsSource
    clock: Clock
    listening: bool = False
    rollout: RolloutView | None = None  # the latest plan's status, for the rollout metrics

    async def serve(self, version: str) -> None:
        """Run `version` on the whole fleet and route to it, then listen: no client ever
        reaches a router without backends. Idempotent."""
        replicas = await self._run_everywhere(version)
        if not self.router.current().stable:
            await self.router.apply(TrafficSplit(stable=tuple(replicas)))
        if not self.listening:
            await self.router.start()
            self.listening = True

    async def _run_everywhere(self, version: str) -> list[Replica]:
        if not self.spec.strategy.targets_based:
            return await self.provider.scale(version, self.spec.fleet.replicas)
        targets = await self.provider.targets()
        if any(t.version is not None for t in targets):
            return [t.replica for t in targets if t.replica and t.healthy]  # resumed: as it is
        moved = await asyncio.gather(*(self.provider.deploy(t.name, version) for t in targets))
        return [t.replica for t in moved if t.replica]

    @property
    def url(self) -> str | None:
        """Where clients reach the service through the embedded router (None with `none`)."""
        if isinstance(self.router, NopRouter):
            return None
        host, _ = split_host_port(self.spec.router.listen)
        return http_url(host, self.router.port)


@asynccontextmanager
async def local_stack(
    spec: RolloutSpec, *, clock: Clock | None = None
) -> AsyncIterator[LocalStack]:
    clock = clock or SystemClock()
    router = router_for(spec.router, service=spec.service.name)
    provider = LocalProvider(
        service=spec.service.name,
        command=[_python(part) for part in spec.service.command],
        version_args={v: o.args for v, o in spec.service.versions.items()},
        env=resolve_env(
            spec.service.env, environ=os.environ
        ),  # references are read from our environment
        health_path=spec.service.health.path,
        start_timeout=spec.fleet.start_timeout,
        stop_timeout=spec.fleet.stop_timeout,
        targets=_targets(spec),
        handover=_handover(router),
    )
    signals = local_signals(
        spec.metrics,
        service=spec.service.name,
        clock=clock,
        router_metrics_urls=router_metrics_url(router, host=metrics_listen(spec.router)[0]),
        replicas=provider.replicas,
    )
    async with provider, signals as measured:
        try:
            source = measured.source
            if spec.strategy.fresh_baseline:  # compare against the router's pool="baseline"
                source = source.with_baseline("baseline")
            stack = LocalStack(spec, provider, router, source, clock)
            if isinstance(router, EmbeddedRouter):  # its /metrics exports the rollout too
                RolloutCollector(
                    lambda: [stack.rollout] if stack.rollout else [],
                    registry=router.registry,
                    clock=clock.now,
                )
            yield stack
        finally:
            await router.stop()


def _handover(router: Router) -> Handover:
    """A target's new replica is routed and its old one drained before the old one stops."""

    async def handover(old: Replica, new: Replica | None) -> None:
        await router.apply(handover_split(router.current(), old=old, new=new))

    return handover


def _targets(spec: RolloutSpec) -> dict[str, dict[str, str]] | None:
    """Named slots for target strategies (rolling, waves); pools need none."""
    if not spec.strategy.targets_based:
        return None
    return {t.name: dict(t.labels) for t in local_targets(spec)}


def _python(part: str) -> str:
    """`python` in a command means the interpreter safeship runs on, so the demo works in a venv."""
    return sys.executable if part in ("python", "python3") else part
