"""Wiring of one rollout on a local stack: start or resume it, then reconcile to the end.

Where it sits: `safeship run` calls `run_rollout` with an `AgentStack` (`wiring/agent_stack.py`:
the fleet lives in the agent and outlives the run), `safeship demo` with a `LocalStack`
(`wiring/local_stack.py`: a sandbox that dies with the process); it joins the stack to the
`Reconciler` (observe, plan, persist, act) with a `StoreJournal` that persists every plan and
reads people's requests. The pure
planner decides; this module only picks the status to start from. On PostgreSQL the run holds
the lease `rollout:SERVICE` (store/leadership.py) and every persist carries its fencing token,
so two runs of one service never both act: the second gets `NotLeader` (exit 3).
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager, nullcontext
from typing import Protocol

from safeship.config.models import RolloutSpec
from safeship.core.clock import Clock
from safeship.core.errors import Conflict, InvalidInput
from safeship.fleet.provider import Provider
from safeship.metrics.sources.base import MetricsSource
from safeship.rollout.journal import StoreJournal, from_record
from safeship.rollout.metrics import RolloutView
from safeship.rollout.reconciler import Reconciler
from safeship.rollout.state import Plan, RolloutStatus, new_status, steps_hash
from safeship.rollout.strategies import compile_steps, local_targets
from safeship.store.leadership import Elector, lead
from safeship.store.lease import Fence
from safeship.store.repository import Store
from safeship.traffic.router import Router


class Stack(Protocol):
    """The world a rollout acts on: `LocalStack` (in-process) or `AgentStack` (the agent)."""

    rollout: RolloutView | None

    @property
    def spec(self) -> RolloutSpec: ...
    @property
    def provider(self) -> Provider: ...
    @property
    def router(self) -> Router: ...
    @property
    def metrics(self) -> MetricsSource: ...
    @property
    def clock(self) -> Clock: ...

    async def serve(self, version: str) -> None: ...


class NothingToDo(Conflict):
    """The requested version already runs."""


async def run_rollout(
    stack: Stack,
    store: Store,
    *,
    version: str,
    actor: str,
    on_plan: Callable[[Plan], None] | None = None,
    leased: bool | None = None,
    fence: Callable[[], Fence] | None = None,
) -> RolloutStatus:
    """Move the service to `version` (or resume the unfinished rollout to it) and return the end.

    `leased` (default: on PostgreSQL) holds the service's rollout lease for the whole run;
    a control plane passes its own lease's `fence` instead.
    """
    if fence is not None:
        leased = False
    async with _leadership(store, stack.spec.service.name, leased) as elector:
        return await _reconcile(
            stack,
            store,
            version=version,
            actor=actor,
            on_plan=on_plan,
            fence=elector.fence if elector is not None else fence,
        )


def _leadership(
    store: Store, service: str, leased: bool | None
) -> AbstractAsyncContextManager[Elector | None]:
    if leased is False or (leased is None and store.dialect != "postgresql"):
        return nullcontext(None)
    return lead(store, name=f"rollout:{service}", what=f"rollout of {service}")


async def _reconcile(
    stack: Stack,
    store: Store,
    *,
    version: str,
    actor: str,
    on_plan: Callable[[Plan], None] | None,
    fence: Callable[[], Fence] | None,
) -> RolloutStatus:
    status = start_or_resume(stack.spec, store, version=version, actor=actor, now=stack.clock.now())
    await stack.serve(status.stable_version)
    journal = StoreJournal(store, actor=actor, clock=stack.clock, fence=fence)
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


def _tracked(stack: Stack, on_plan: Callable[[Plan], None] | None) -> Callable[[Plan], None]:
    """Keep the stack's rollout view current (the router's /metrics exports it), then report."""
    targets = local_targets(stack.spec) if stack.spec.strategy.targets_based else []
    steps = compile_steps(stack.spec, targets)
    names = tuple(t.name for t in targets)

    def track(plan: Plan) -> None:
        stack.rollout = RolloutView(plan.status, steps, names)
        if on_plan:
            on_plan(plan)

    return track


def begin(
    spec: RolloutSpec,
    store: Store,
    *,
    version: str,
    actor: str,
    clock: Clock,
    fence: Callable[[], Fence] | None = None,
) -> RolloutStatus:
    """Start a rollout (or find the unfinished one to `version`) and persist it at once, so a
    control plane's reconciler picks it up; what `safeship deploy` asks through the API."""
    status = start_or_resume(spec, store, version=version, actor=actor, now=clock.now())
    journal = StoreJournal(store, actor=actor, clock=clock, fence=fence)
    journal.record(Plan(status, requeue_after=0.0), spec=spec)
    return status


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
        raise Conflict(
            f"rollout {active.id} of {service} to {active.to_version} is unfinished;"
            " finish or abort it first"
        )
    stable = store.stable_version(service) or spec.service.stable
    if stable is None:
        raise InvalidInput(f"no stable version known for {service}: set service.stable")
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
