"""Wiring of a rollout's world on this machine's `safeship agent`: the fleet outlives us.

Where it sits: under `safeship run` (through `wiring/run.py`) and the control plane's
reconcilers (`wiring/control.py`). `ensure_agent` reaches the agent at `<home>/agent.sock`
and, when none answers, starts one detached through its own entry point
(`python -m safeship.cli agent`), in its own session, logging to `<home>/logs/agent.*.log`.
`agent_stack` steers it with `AgentProvider` and `AgentRouter` and measures with the same
signal path as the in-process stack (`wiring/signals.py`), one scrape target per router
worker. Leaving it closes connections only: replicas and router workers keep serving the
last split, whatever happened to the controller. It decides nothing.
"""

from __future__ import annotations

import asyncio
import os
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from safeship.agent.client import AgentClient, AgentProvider, AgentRouter
from safeship.agent.procs import spawn_detached
from safeship.config.models import RolloutSpec
from safeship.core.addresses import http_url, split_host_port
from safeship.core.clock import Clock, SystemClock
from safeship.core.errors import Conflict, DeployError
from safeship.core.types import Replica, TrafficSplit
from safeship.metrics.sources.base import MetricsSource
from safeship.rollout.metrics import RolloutView
from safeship.rollout.strategies import local_targets
from safeship.rollout.targets import handover_split
from safeship.wiring.signals import local_signals

T = TypeVar("T")
DEFAULT_HOME = Path(".safeship")
ROUTER_WORKERS = 2


@dataclass(frozen=True)
class AgentHome:
    """Where this machine's agent keeps its socket, state and log (`.safeship/` by default)."""

    root: Path = DEFAULT_HOME

    @classmethod
    def default(cls) -> AgentHome:
        """`$SAFESHIP_HOME`, else `./.safeship`."""
        return cls(Path(os.environ.get("SAFESHIP_HOME") or DEFAULT_HOME))

    @property
    def socket(self) -> Path:
        return self.root / "agent.sock"

    @property
    def state_dir(self) -> Path:
        return self.root / "agent"

    @property
    def logs(self) -> Path:
        return self.root / "logs"


def agent_argv(home: AgentHome) -> list[str]:
    """The agent's own entry point, on the interpreter safeship runs on."""
    return [sys.executable, "-m", "safeship.cli", "agent"] + [
        "--state-dir",
        str(home.state_dir),
        "--socket",
        str(home.socket),
    ]


async def ensure_agent(home: AgentHome, *, within: float = 15.0) -> AgentClient:
    """A client of the running agent; one is started (detached) when none answers."""
    client = AgentClient(home.socket)
    if await _answers(client):
        return client
    home.root.mkdir(parents=True, exist_ok=True, mode=0o700)
    spawn_detached(agent_argv(home), env=os.environ, log_dir=home.logs, name="agent")
    deadline = time.monotonic() + within
    while not await _answers(client):  # a racing start loses the lock; the winner answers
        if time.monotonic() > deadline:
            await client.aclose()
            log = home.logs / "agent.stderr.log"
            raise DeployError(f"safeship agent did not answer in {within:g}s; see {log}")
        await asyncio.sleep(0.05)
    return client


async def _answers(client: AgentClient) -> bool:
    try:
        await client.health()
    except DeployError:
        return False
    return True


@dataclass
class AgentStack:
    """A service's replicas and router on the agent, steered from this process."""

    spec: RolloutSpec
    provider: AgentProvider
    router: AgentRouter
    metrics: MetricsSource
    clock: Clock
    rollout: RolloutView | None = None  # the latest plan's status

    async def serve(self, version: str) -> None:
        """Route to `version` on the whole fleet unless the agent already routes this
        service (an earlier run's result, or a rollout being resumed): then leave it."""
        await _serve(self.spec, self.provider, self.router, version)

    @property
    def url(self) -> str:
        host, port = split_host_port(self.spec.router.listen)
        return http_url(host, port)


@asynccontextmanager
async def agent_stack(
    spec: RolloutSpec, *, home: AgentHome, clock: Clock | None = None
) -> AsyncIterator[AgentStack]:
    """Steer `spec`'s service on the agent (started if needed) until the block ends."""
    clock = clock or SystemClock()
    client = await ensure_agent(home)
    provider, router = steer(client, spec)
    signals = local_signals(
        spec.metrics,
        service=spec.service.name,
        clock=clock,
        router_metrics_urls=_last_known(router.metrics_urls, []),
        replicas=_last_known(provider.replicas, []),
    )
    try:
        async with signals as measured:
            source = measured.source
            if spec.strategy.fresh_baseline:  # compare against the router's pool="baseline"
                source = source.with_baseline("baseline")
            yield AgentStack(spec, provider, router, source, clock)
    finally:
        await client.aclose()  # the agent keeps everything running


def steer(client: AgentClient, spec: RolloutSpec) -> tuple[AgentProvider, AgentRouter]:
    """The provider and router of `spec`'s service on the agent behind `client`; target
    strategies (rolling, waves) get named slots whose moves the router hands over."""
    service = spec.service
    router = AgentRouter(
        client,
        service=service.name,
        spec=spec.router,
        workers=ROUTER_WORKERS,
        timeout=spec.router.drain_timeout + spec.fleet.start_timeout + 10,
    )

    async def handover(old: Replica, new: Replica | None) -> None:
        await router.apply(handover_split(router.current(), old=old, new=new))

    targeted = spec.strategy.targets_based
    provider = AgentProvider(
        client,
        service=service.name,
        command=[_python(part) for part in service.command],
        version_args={v: o.args for v, o in service.versions.items()},
        env=dict(service.env),  # references stay references: the agent resolves them
        health_path=service.health.path,
        start_timeout=spec.fleet.start_timeout,
        targets={t.name: dict(t.labels) for t in local_targets(spec)} if targeted else None,
        handover=handover if targeted else None,
    )
    return provider, router


async def converge(spec: RolloutSpec, *, home: AgentHome, version: str) -> None:
    """The service serves `version` on the agent unless the agent already routes it."""
    client = await ensure_agent(home)
    try:
        await _serve(spec, *steer(client, spec), version)
    finally:
        await client.aclose()


async def scale_stable(spec: RolloutSpec, *, home: AgentHome, version: str, count: int) -> int:
    """`count` replicas of `version`, the stable version the router sends everything to, on
    the agent (its desired state on disk keeps them); the count before. Extras are routed
    out before they stop, new ones routed in once ready."""
    client = await ensure_agent(home)
    try:
        provider, router = steer(client, spec)
        split = await router.sync()
        if split.canary or split.baseline or {r.version for r in split.stable} != {version}:
            raise Conflict(f"{spec.service.name} does not serve {version} alone: a rollout's split")
        before = len(split.stable)
        if count < before:  # the agent keeps the oldest replicas: route to those only first
            mine = [r for r in await provider.replicas() if r.version == version]
            await router.apply(TrafficSplit(stable=tuple(mine[:count])))
        ready = await provider.scale(version, count)
        await router.apply(TrafficSplit(stable=tuple(ready)))
        return before
    finally:
        await client.aclose()


async def _serve(
    spec: RolloutSpec, provider: AgentProvider, router: AgentRouter, version: str
) -> None:
    if (await router.sync()).stable:
        return
    if spec.strategy.targets_based:
        names = [t.name for t in await provider.targets()]
        moved = await asyncio.gather(*(provider.deploy(name, version) for name in names))
        replicas = [t.replica for t in moved if t.replica is not None]
    else:
        replicas = await provider.scale(version, spec.fleet.replicas)
    await router.apply(TrafficSplit(stable=tuple(replicas)))


def _last_known(read: Callable[[], Awaitable[T]], first: T) -> Callable[[], Awaitable[T]]:
    """`read`, answering its last value while the agent is away (scraping goes on)."""
    last = [first]

    async def reader() -> T:
        with suppress(DeployError):
            last[0] = await read()
        return last[0]

    return reader


def _python(part: str) -> str:
    """`python` in a command means the interpreter safeship runs on, so the demo works in a venv."""
    return sys.executable if part in ("python", "python3") else part
