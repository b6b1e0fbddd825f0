"""Wiring of the embedded control plane: a spec becomes a local fleet, a router and a reconciler.

`safeship run` and `safeship demo` both use it. It decides nothing itself: the planner does.
"""

from __future__ import annotations

import asyncio
import secrets
import sys
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

from safeship.config.models import RolloutSpec
from safeship.core.clock import Clock, SystemClock
from safeship.core.errors import SafeshipError
from safeship.core.types import Replica, TrafficSplit
from safeship.fleet.local import Handover, LocalProvider
from safeship.rollout.journal import StoreJournal, from_record
from safeship.rollout.metrics import RolloutCollector, RolloutView
from safeship.rollout.reconciler import MetricsSource, Reconciler
from safeship.rollout.state import Plan, RolloutStatus, new_status, steps_hash
from safeship.rollout.strategies import compile_steps, local_targets
from safeship.rollout.targets import handover_split
from safeship.server.control_plane import local_signals, router_metrics_url
from safeship.store.repository import Store
from safeship.traffic.proxy.embedded import EmbeddedRouter
from safeship.traffic.proxy.timeouts import Timeouts


class NothingToDo(SafeshipError):
    """The requested version already runs."""


@dataclass
class LocalStack:
    """A running local fleet with its router: lives as long as the process that made it."""

    spec: RolloutSpec
    provider: LocalProvider
    router: EmbeddedRouter
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
    def url(self) -> str:
        host = self.spec.router.listen.rpartition(":")[0]
        return f"http://{host}:{self.router.port}"


@asynccontextmanager
async def local_stack(
    spec: RolloutSpec, *, clock: Clock | None = None
) -> AsyncIterator[LocalStack]:
    clock = clock or SystemClock()
    host, _, port = spec.router.listen.rpartition(":")
    router = EmbeddedRouter(
        service=spec.service.name,
        listen_host=host,
        listen_port=int(port),
        drain_timeout=spec.router.drain_timeout,
        timeouts=_timeouts(spec),
        **_metrics_listen(spec),
    )
    provider = LocalProvider(
        service=spec.service.name,
        command=[_python(part) for part in spec.service.command],
        version_args={v: o.args for v, o in spec.service.versions.items()},
        env=spec.service.env,
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
        router_metrics_url=router_metrics_url(router, host=_metrics_listen(spec)["metrics_host"]),
        replicas=provider.replicas,
    )
    async with provider, signals as measured:
        try:
            source = measured.source
            if spec.strategy.fresh_baseline:  # compare against the router's pool="baseline"
                source = source.with_baseline("baseline")
            stack = LocalStack(spec, provider, router, source, clock)
            RolloutCollector(
                lambda: [stack.rollout] if stack.rollout else [],
                registry=router.registry,
                clock=clock.now,
            )
            yield stack
        finally:
            await router.stop()


def _metrics_listen(spec: RolloutSpec) -> dict[str, Any]:
    """Where the router exposes its series: as configured, else a free loopback port."""
    if spec.router.metrics_listen is None:
        return {"metrics_host": "127.0.0.1", "metrics_port": 0}
    host, _, port = spec.router.metrics_listen.rpartition(":")
    return {"metrics_host": host, "metrics_port": int(port)}


def _timeouts(spec: RolloutSpec) -> Timeouts:
    r = spec.router
    return Timeouts(
        idle=r.idle_timeout,
        header=r.header_timeout,
        response=r.response_timeout,
        max_connections=r.max_connections,
    )


def _handover(router: EmbeddedRouter) -> Handover:
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


async def run_rollout(
    stack: LocalStack,
    store: Store,
    *,
    version: str,
    actor: str,
    on_plan: Callable[[Plan], None] | None = None,
) -> RolloutStatus:
    """Move the service to `version` (or resume the unfinished rollout to it) and return the end."""
    status = start_or_resume(stack.spec, store, version=version, actor=actor, now=stack.clock.now())
    await stack.serve(status.stable_version)
    journal = StoreJournal(store, actor=actor, clock=stack.clock)
    reconciler = Reconciler(
        spec=stack.spec,
        provider=stack.provider,
        router=stack.router,
        metrics=stack.metrics,
        sink=journal,
        clock=stack.clock,
        on_plan=_tracked(stack, on_plan),
        requests=journal,
    )
    return await reconciler.run(status)


def _tracked(stack: LocalStack, on_plan: Callable[[Plan], None] | None) -> Callable[[Plan], None]:
    """Keep the stack's rollout view current (the router's /metrics exports it), then report."""
    targets = local_targets(stack.spec) if stack.spec.strategy.targets_based else []
    steps = compile_steps(stack.spec, targets)
    names = tuple(t.name for t in targets)

    def track(plan: Plan) -> None:
        stack.rollout = RolloutView(plan.status, steps, names)
        if on_plan:
            on_plan(plan)

    return track


def start_or_resume(
    spec: RolloutSpec, store: Store, *, version: str, actor: str, now: float
) -> RolloutStatus:
    service = spec.service.name
    active = store.active_rollout(service)
    if active is not None:
        status = from_record(active)
        if status.canary_version == version and status.steps_hash == steps_hash(spec):
            store.audit(
                actor=actor,
                action="resume rollout",
                rollout_id=status.rollout_id,
                service=service,
            )
            return status
        raise SafeshipError(
            f"rollout {active.id} of {service} to {active.to_version} is unfinished;"
            " finish or abort it first"
        )
    stable = store.stable_version(service) or spec.service.stable
    if stable is None:
        raise SafeshipError(f"no stable version known for {service}: set service.stable")
    if stable == version:
        raise NothingToDo(f"{service} already runs {version}")
    rollout_id = (
        f"{service}-{time.strftime('%Y%m%d-%H%M%S', time.gmtime(now))}-{secrets.token_hex(2)}"
    )
    status = new_status(spec, rollout_id=rollout_id, stable=stable, canary=version, now=now)
    store.audit(
        actor=actor,
        action=f"start rollout {stable} → {version}",
        rollout_id=status.rollout_id,
        service=service,
    )
    return status
