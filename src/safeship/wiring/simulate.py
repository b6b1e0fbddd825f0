"""Wiring of `safeship simulate`: a rollout spec flown on the simulated fleet in virtual time.

The same `Reconciler` and pure planner that `safeship run` uses drive a `SimulatedProvider`,
a `SimulatedRouter` (whose counters feed the real `RouterMetricsSource` and built-in judges)
and a `StoreJournal` over an in-memory SQLite store, all on one `VirtualClock`. Nothing of the
engine is re-implemented here: this module only wires and records the flight; the world it
flies in (faults, bad versions) comes from `wiring/faults.py`.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from safeship.config.models import RolloutSpec, VerifySpec
from safeship.core.clock import VirtualClock
from safeship.core.errors import SafeshipError
from safeship.core.types import Replica, TrafficSplit
from safeship.fleet.simulated import FleetModel, SimulatedProvider
from safeship.metrics.sources.router import RouterMetricsSource
from safeship.metrics.sources.simulated import SimulatedMetrics
from safeship.rollout.journal import StoreJournal
from safeship.rollout.reconciler import Reconciler, StatusSink
from safeship.rollout.state import Phase, Plan, RolloutStatus, VerifyResult, new_status
from safeship.store.repository import Store
from safeship.traffic.simulated import SimulatedRouter

START = 1_700_000_000.0  # virtual epoch of every flight, so timelines are reproducible
DAY = 86_400.0
MAX_ACTIONS_SHOWN = 3


@dataclass(frozen=True)
class Entry:
    at: float  # seconds since the start of the flight
    text: str


@dataclass(frozen=True)
class CheckRecord:
    at: float
    step: int
    outcome: str
    reason: str


@dataclass
class Flight:
    """What the simulator saw: the timeline, every measurement, and how the rollout ended."""

    service: str
    stable: str
    version: str
    targets: int
    seed: int
    phase: str = Phase.PROGRESSING.value
    verdict: str = ""  # pass, pause or roll back
    reason: str = ""
    duration_s: float = 0.0
    wall_s: float = 0.0
    ticks: int = 0
    deploys: int = 0
    deploy_failures: int = 0
    timeline: list[Entry] = field(default_factory=list)
    checks: list[CheckRecord] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


class _Halt(SafeshipError):
    """Stops a flight that needs a person (paused) or overran its virtual time limit."""

    def __init__(self, verdict: str, reason: str) -> None:
        super().__init__(reason)
        self.verdict, self.reason = verdict, reason


async def simulate(
    spec: RolloutSpec,
    *,
    version: str,
    targets: int,
    model: FleetModel,
    seed: int = 0,
    max_duration: float = DAY,
    sink: StatusSink | None = None,
) -> Flight:
    """Fly one rollout of `spec` to `version` over `targets` simulated targets.

    Plans are persisted to an in-memory store unless `sink` takes them (bench/judges_product.py
    flies thousands of rollouts to measure the judges, not SQLite)."""
    spec = sized(spec, targets)
    stable = spec.service.stable or "stable"
    clock, rng = VirtualClock(START), np.random.default_rng(seed)
    provider = _provider(spec, stable=stable, model=model, clock=clock, rng=rng)
    router = SimulatedRouter(model=model, clock=clock, rng=rng)
    await router.apply(TrafficSplit(stable=tuple(await provider.replicas())))
    metrics = SimulatedMetrics(
        RouterMetricsSource(router, clock), model=model, clock=clock, start=START
    )
    flight = Flight(spec.service.name, stable, version, targets, seed)
    recorder = _Recorder(flight, clock=clock, limit=max_duration)
    wall = time.perf_counter()
    with Store.open("sqlite://", clock=clock) as store:
        reconciler = Reconciler(
            spec=spec,
            provider=provider,
            router=router,
            metrics=metrics,
            sink=sink or StoreJournal(store, actor="simulator", clock=clock),
            clock=clock,
            on_plan=recorder.on_plan,
            verifier=simulated_verify,
        )
        status = new_status(
            spec,
            rollout_id=f"sim-{spec.service.name}-{seed}",
            stable=stable,
            canary=version,
            now=START,
        )
        await recorder.fly(reconciler, status)
    flight.wall_s = time.perf_counter() - wall
    flight.duration_s = clock.now() - START
    flight.deploys, flight.deploy_failures = provider.deploys, provider.failures
    return flight


async def simulated_verify(
    _spec: VerifySpec, replicas: Sequence[Replica], version: str
) -> VerifyResult:
    """Post-deploy verification of simulated replicas: each reports the version it runs."""
    wrong = [f"{r.id} reports {r.version!r}" for r in replicas if r.version != version]
    if not replicas or wrong:
        return VerifyResult(False, "; ".join(wrong[:5]) or f"no running replica of {version}")
    return VerifyResult(True, f"{len(replicas)} replicas report {version} (simulated)")


def sized(spec: RolloutSpec, targets: int) -> RolloutSpec:
    """The spec with a fleet of `targets` (beyond the local provider's limit, on purpose)."""
    fleet = spec.fleet.model_copy(update={"replicas": targets})
    return spec.model_copy(update={"fleet": fleet})


def _provider(
    spec: RolloutSpec,
    *,
    stable: str,
    model: FleetModel,
    clock: VirtualClock,
    rng: np.random.Generator,
) -> SimulatedProvider:
    service = spec.service.name
    if not spec.strategy.targets_based:  # traffic strategies: a stable pool is already up
        pools = {stable: spec.fleet.replicas}
        return SimulatedProvider(service=service, model=model, clock=clock, rng=rng, pools=pools)
    names = spec.fleet.target_names(service)
    labels = {n: {"zone": f"z{i % 3}", **spec.fleet.labels.get(n, {})} for i, n in enumerate(names)}
    return SimulatedProvider(
        service=service, model=model, clock=clock, rng=rng, targets=labels, running=stable
    )


class _Recorder:
    """Turns each plan into timeline entries and check records; halts a flight that waits."""

    def __init__(self, flight: Flight, *, clock: VirtualClock, limit: float) -> None:
        self.flight, self.clock, self.limit = flight, clock, limit
        self._last_check: float | None = None
        self._last_actions: tuple[str, ...] = ()

    async def fly(self, reconciler: Reconciler, status: RolloutStatus) -> None:
        try:
            final = await reconciler.run(status)
        except _Halt as halt:
            self.flight.verdict, self.flight.reason = halt.verdict, halt.reason
            return
        self.flight.phase = final.phase.value
        self.flight.reason = final.message
        self.flight.verdict = "pass" if final.phase is Phase.PROMOTED else "roll back"

    def on_plan(self, plan: Plan) -> None:
        status, flight = plan.status, self.flight
        now = self.clock.now() - START
        flight.ticks += 1
        flight.phase = status.phase.value
        flight.timeline += [Entry(now, e) for e in plan.events]
        self._note_actions(plan, now)
        self._note_check(status, now)
        if status.phase is Phase.PAUSED:
            raise _Halt("pause", status.message)
        if now > self.limit:
            raise _Halt("pause", f"not finished after {self.limit:g}s of virtual time")

    def _note_actions(self, plan: Plan, now: float) -> None:
        described = tuple(a.describe() for a in plan.actions)
        if not described or described == self._last_actions:
            return
        self._last_actions = described
        shown = "; ".join(described[:MAX_ACTIONS_SHOWN])
        more = len(described) - MAX_ACTIONS_SHOWN
        self.flight.timeline.append(Entry(now, shown + (f"; and {more} more" if more > 0 else "")))

    def _note_check(self, status: RolloutStatus, now: float) -> None:
        judged = status.last_judgement
        if judged is None or judged.at == self._last_check:
            return
        self._last_check = judged.at
        record = CheckRecord(
            judged.at - START, status.step_index + 1, judged.outcome.value, judged.reason
        )
        self.flight.checks.append(record)
