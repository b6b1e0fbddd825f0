"""Wiring of the control plane's reconcilers: the rollouts of safeship.yaml's `services`.

Where it sits: `wiring/serve.py` runs `Controller.run` beside the API, and hands the API
(`server/api.py`) the controller as its `Control`: `deploy` and `retry` record a rollout in
the store (`wiring.run.begin`), and the loop here picks up every unfinished rollout of a
configured service and drives it to the end on this machine's agent
(`wiring/agent_stack.py`) with the same reconciler as `safeship run`. So a control plane
restarted mid-rollout resumes it, and people's gates (pause, promote, abort...) act through
the store as always. On start-up each service without a rollout is brought to its stable
version on the agent, and the agent is started again whenever it stops answering.

It is also the incidents' `Scaler`: `scale` (called from the incident manager's thread)
changes a service's count of stable replicas on the agent, on this loop, refused while a
rollout of the service is recorded or driven; no rollout starts for it meanwhile.

Only the leader acts: on PostgreSQL nothing is picked up without the lease, and every
persist carries its fencing token, so a reconciler of a deposed leader stops at its next
tick (NotLeader). On SQLite the one `serve` leads. It decides nothing: the planner does.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence

from safeship.config.models import RolloutSpec, SafeshipConfig
from safeship.core.clock import Clock
from safeship.core.errors import Conflict, NotFound, SafeshipError
from safeship.rollout.commands import retryable
from safeship.rollout.metrics import RolloutView
from safeship.rollout.state import RolloutStatus
from safeship.store.leadership import Elector
from safeship.store.lease import Fence
from safeship.store.repository import Store
from safeship.wiring.agent_stack import (
    AgentHome,
    AgentStack,
    agent_stack,
    converge,
    ensure_agent,
    scale_stable,
)
from safeship.wiring.run import begin, run_rollout

log = logging.getLogger(__name__)

AGENT_CHECK_S = 5.0
SCALE_TIMEOUT_S = 300.0  # longer than any replica takes to start
RETRY_S = 5.0  # a driver that stopped on an error is started again after this


class Controller:
    """Runs the rollouts of the configured services while this control plane leads."""

    def __init__(
        self,
        config: SafeshipConfig,
        *,
        store: Store,
        clock: Clock,
        home: AgentHome,
        elector: Elector | None = None,
        poll: float = 0.5,
    ) -> None:
        self.config, self.store, self.clock, self.home = config, store, clock, home
        self.elector, self.poll = elector, poll
        self._running: dict[str, asyncio.Task[RolloutStatus]] = {}  # rollout id → its driver
        self._busy: dict[str, str] = {}  # rollout id → its service, while driven
        self._stacks: dict[str, AgentStack] = {}  # rollout id → its stack, while driven
        self._stopped: dict[str, float] = {}  # rollout id → when its driver failed
        self._converged = False
        self._scaling: set[str] = set()  # services being scaled: no rollout starts meanwhile
        self._loop: asyncio.AbstractEventLoop | None = None  # `run`'s, while it runs
        self._agent_checked = float("-inf")

    @property
    def services(self) -> Sequence[RolloutSpec]:
        return self.config.services

    def views(self) -> list[RolloutView]:
        """The rollouts being driven, as their latest plans left them (serve's /metrics
        exports them as `safeship_rollout_*`)."""
        return [s.rollout for s in list(self._stacks.values()) if s.rollout is not None]

    def deploy(self, service: str, version: str, *, actor: str) -> str:
        """Record a rollout of `service` to `version` (the loop drives it); its id."""
        spec = self._spec(service)
        status = begin(
            spec, self.store, version=version, actor=actor, clock=self.clock, fence=self._fence()
        )
        return status.rollout_id

    def retry(self, rollout_id: str, *, actor: str) -> str:
        """Run a rolled-back or aborted rollout again: a new rollout to the same version."""
        record = retryable(self.store.get_rollout(rollout_id), rollout_id)
        self.store.audit(
            actor=actor, action="retry rollout", rollout_id=rollout_id, service=record.service
        )
        return self.deploy(record.service, record.to_version, actor=actor)

    async def run(self) -> None:
        """Forever: while leading, keep the agent up and drive every unfinished rollout."""
        self._loop = asyncio.get_running_loop()
        try:
            while True:
                if self._leading():
                    try:
                        await self._tick()
                    except SafeshipError as exc:
                        log.error("control plane: %s", exc)
                await self.clock.sleep(self.poll)
        finally:
            for task in self._running.values():
                task.cancel()
            await asyncio.gather(*self._running.values(), return_exceptions=True)

    async def _tick(self) -> None:
        if not self.services:
            return
        if self.clock.now() - self._agent_checked >= AGENT_CHECK_S:
            self._agent_checked = self.clock.now()
            await (await ensure_agent(self.home)).aclose()  # started again if it died
        for spec in self.services:
            record = self.store.active_rollout(spec.service.name)
            scaling = spec.service.name in self._scaling
            if record is not None and not scaling and self._due(record.id):
                self._start(spec, record.id, record.to_version, record.actor)
        if not self._converged:
            self._converged = True
            await self._converge_idle()

    def scale(self, service: str, replicas: int) -> str:
        """Run `replicas` replicas of `service`'s stable version (from another thread)."""
        spec = self._spec(service)
        if self._loop is None or not self._leading():
            raise Conflict("this control plane does not run the services (not leading)")
        done = asyncio.run_coroutine_threadsafe(self._scale(spec, replicas), self._loop)
        return done.result(timeout=SCALE_TIMEOUT_S)

    async def _scale(self, spec: RolloutSpec, replicas: int) -> str:
        name = spec.service.name
        record = self.store.active_rollout(name)
        if record is not None or name in self._busy.values() or name in self._scaling:
            under_way = record.id if record is not None else "one"
            raise Conflict(f"rollout {under_way} of {name} is under way; scale after it ends")
        if spec.strategy.targets_based:
            raise Conflict(f"{name} runs one replica per target (rolling or waves)")
        stable = self.store.stable_version(name) or spec.service.stable
        if stable is None:
            raise Conflict(f"{name} has no stable version yet")
        self._scaling.add(name)
        try:
            before = await scale_stable(spec, home=self.home, version=stable, count=replicas)
        finally:
            self._scaling.discard(name)
        return f"{name} scaled from {before} to {replicas} replicas of {stable}"

    async def _converge_idle(self) -> None:
        """Services with no rollout under way serve their stable version (start-up)."""
        busy = set(self._busy.values())
        for spec in self.services:
            name = spec.service.name
            stable = self.store.stable_version(name) or spec.service.stable
            if name in busy or stable is None:
                continue
            try:
                await converge(spec, home=self.home, version=stable)
            except SafeshipError as exc:
                log.error("service %s: cannot serve %s: %s", name, stable, exc)

    def _due(self, rollout_id: str) -> bool:
        failed_at = self._stopped.get(rollout_id)
        idle = rollout_id not in self._running
        return idle and (failed_at is None or self.clock.now() - failed_at >= RETRY_S)

    def _start(self, spec: RolloutSpec, rollout_id: str, version: str, actor: str) -> None:
        task = asyncio.get_running_loop().create_task(self._drive(spec, rollout_id, version, actor))
        self._running[rollout_id] = task
        self._busy[rollout_id] = spec.service.name
        task.add_done_callback(lambda done: self._finished(rollout_id, done))

    async def _drive(
        self, spec: RolloutSpec, rollout_id: str, version: str, actor: str
    ) -> RolloutStatus:
        async with agent_stack(spec, home=self.home, clock=self.clock) as stack:
            self._stacks[rollout_id] = stack
            try:
                return await run_rollout(
                    stack, self.store, version=version, actor=actor, fence=self._fence()
                )
            finally:
                self._stacks.pop(rollout_id, None)

    def _finished(self, rollout_id: str, done: asyncio.Task[RolloutStatus]) -> None:
        self._running.pop(rollout_id, None)
        self._busy.pop(rollout_id, None)
        if done.cancelled():
            return
        if (error := done.exception()) is not None:
            self._stopped[rollout_id] = self.clock.now()
            log.error("rollout %s stopped: %s (picked up again next tick)", rollout_id, error)
            return
        status = done.result()
        log.warning("rollout %s ended %s", rollout_id, status.phase.value)

    def _leading(self) -> bool:
        return self.elector is None or self.elector.leader

    def _fence(self) -> Callable[[], Fence] | None:
        return self.elector.fence if self.elector is not None else None

    def _spec(self, service: str) -> RolloutSpec:
        spec = self.config.service(service)
        if spec is None:
            known = ", ".join(s.service.name for s in self.services) or "none"
            raise NotFound(f"no service {service} in safeship.yaml (services: {known})")
        return spec
