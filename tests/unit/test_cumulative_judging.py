"""Sequential judges see the counts since their analysis started under the current traffic
split (their guarantee holds for nothing else); the other judges keep the sliding window; a
gradual rollback re-checks its trigger on data gathered after the last wave only.

Flown through the real reconciler, planner and router metrics source on the simulated fleet.
"""

from __future__ import annotations

import asyncio
from typing import Any

import numpy as np
import pytest

from safeship.analysis.measurement import Measurement
from safeship.config.models import MetricSpec, RolloutSpec
from safeship.core.types import TrafficSplit
from safeship.metrics.sources.router import RouterMetricsSource
from safeship.rollout.reconciler import Reconciler
from safeship.rollout.state import (
    Judgement,
    Phase,
    Plan,
    RolloutStatus,
    Route,
    Trigger,
    new_status,
)
from safeship.testing import FakeClock, FleetModel, SimulatedProvider, SimulatedRouter
from safeship.wiring.simulate import simulated_verify

RATE = 200.0  # requests per second through the router
METRICS = [
    {"name": "seq", "builtin": "request-success-rate", "compare": {"test": "sequential"}},
    {"name": "ok", "builtin": "request-success-rate", "min": 0.9},
]


def rollout(steps: list[dict[str, Any]]) -> RolloutSpec:
    return RolloutSpec.model_validate(
        {
            "service": {"name": "web", "command": ["serve", "{port}"], "stable": "v1"},
            "fleet": {"replicas": 4},
            "analysis": {"interval": "5s", "window": "30s", "metrics": METRICS},
            "strategy": {"canary": {"steps": steps}},
        }
    )


class Sink:
    """Keeps every plan, as the journal would persist it."""

    def __init__(self) -> None:
        self.plans: list[Plan] = []

    def record(self, plan: Plan, *, spec: RolloutSpec) -> None:
        self.plans.append(plan)


class Recording:
    """A metrics source that notes what it was asked, then asks the router's counters."""

    def __init__(self, inner: RouterMetricsSource) -> None:
        self.inner, self.asked = inner, list[tuple[str, float, float | None]]()

    async def measure(
        self, metric: MetricSpec, *, version: str, window: float, since: float | None = None
    ) -> Measurement:
        self.asked.append((metric.name, window, since))
        span = {"since": since} if since is not None else {}
        return await self.inner.measure(metric, version=version, window=window, **span)


def world(spec: RolloutSpec, clock: FakeClock) -> tuple[Reconciler, Sink, Recording]:
    model, rng = FleetModel(request_rate=RATE), np.random.default_rng(3)
    provider = SimulatedProvider(service="web", model=model, clock=clock, rng=rng, pools={"v1": 4})
    router = SimulatedRouter(model=model, clock=clock, rng=rng)
    asyncio.run(router.apply(TrafficSplit(stable=tuple(asyncio.run(provider.replicas())))))
    sink, source = Sink(), Recording(RouterMetricsSource(router, clock))
    reconciler = Reconciler(
        spec=spec,
        provider=provider,
        router=router,
        metrics=source,
        sink=sink,
        clock=clock,
        verifier=simulated_verify,
    )
    return reconciler, sink, source


def judgements(sink: Sink, step_index: int) -> list[tuple[float, Judgement]]:
    """(step start, judgement) of every measurement taken in one step, in order."""
    seen: dict[float, tuple[float, Judgement]] = {}
    for plan in sink.plans:
        s = plan.status
        if s.step_index == step_index and s.last_judgement and s.judgements:
            seen[s.last_judgement.at] = (s.step_started_at, s.last_judgement)
    return list(seen.values())


def test_sequential_counts_start_at_the_split_change_and_accumulate() -> None:
    spec = rollout(
        [
            {"setWeight": 20},
            {"analysis": {"count": 12}},
            {"setWeight": 50},
            {"analysis": {"count": 12}},
        ]
    )
    clock = FakeClock()
    reconciler, sink, _ = world(spec, clock)
    status = new_status(spec, rollout_id="r", stable="v1", canary="v2", now=clock.now())
    final = asyncio.run(reconciler.run(status))
    assert final.phase is Phase.PROMOTED, final.message
    second = judgements(sink, 3)
    assert len(second) >= 11  # the 12th is recorded with the next step
    for started, judged in second:
        seq, ok = judged.evidence["seq"], judged.evidence["ok"]
        served = seq["canary"]["requests"] + seq["baseline"]["requests"]
        elapsed = judged.at - started
        # every request since the 50 % split began, and none from the 20 % split before it
        assert served == pytest.approx(RATE * elapsed, rel=0.15), (elapsed, served)
        assert seq["canary_share"] == pytest.approx(0.5, abs=0.06)
        # the threshold judge still looks at the sliding 30 s window
        assert ok["window_s"] == pytest.approx(30.0)


def test_the_split_change_is_recorded_when_the_planner_routes() -> None:
    spec = rollout([{"setWeight": 20}, {"analysis": {"count": 1}}])
    clock = FakeClock()
    reconciler, sink, source = world(spec, clock)
    status = new_status(spec, rollout_id="r", stable="v1", canary="v2", now=clock.now())
    asyncio.run(reconciler.run(status))
    routes = [
        p
        for p in sink.plans
        if p.status.phase is Phase.PROGRESSING and any(isinstance(a, Route) for a in p.actions)
    ]
    routed = routes[-1]  # to 20 %, after the canary replica came up
    changed = routed.status.split_changed_at
    assert changed is not None and changed >= routed.status.step_started_at
    seq = [since for name, _, since in source.asked if name == "seq"]
    assert seq[-1] == changed  # counted from the last change of the split
    assert all(since is not None and since >= routed.status.step_started_at for since in seq)
    assert all(since is None for name, _, since in source.asked if name == "ok")


def test_between_waves_the_trigger_is_rechecked_on_data_after_the_last_wave_only() -> None:
    spec = rollout([{"setWeight": 40}, {"analysis": {"count": 3}}])
    clock = FakeClock()
    reconciler, _, source = world(spec, clock)
    wave_at = clock.now() - 5.0
    back = RolloutStatus.model_validate(
        new_status(
            spec, rollout_id="r", stable="v1", canary="v2", now=clock.now() - 120
        ).model_dump()
        | {
            "phase": Phase.ROLLING_BACK,
            "step_index": 1,
            "canary_weight": 40.0,
            "rollback_mode": "gradual",
            "rollback_trigger": Trigger.ANALYSIS,
            "rollback_wave": 1,
            "rollback_wave_at": wave_at,
            "split_changed_at": wave_at - 1.0,
        }
    )
    asyncio.run(reconciler.observe(back, action_error=None))
    asked = {name: (window, since) for name, window, since in source.asked}
    assert asked["seq"] == (pytest.approx(5.0), wave_at)
    assert asked["ok"] == (pytest.approx(5.0), wave_at)  # not the 30 s reaching before it
