"""A rollout judged on service events alone: the simulated fleet's traffic becomes events
(version in a field), they go through the real event pipeline (reader, windows, storage,
metric store), and the canary's error ratio over them, a plain PromQL metric with a data
floor, rolls a bad canary back and promotes a good one. Virtual time throughout."""

from __future__ import annotations

import asyncio
from pathlib import Path

import numpy as np
import pytest

from safeship.config.events import EventsSpec
from safeship.config.models import RolloutSpec
from safeship.core.clock import VirtualClock
from safeship.core.types import TrafficSplit
from safeship.events.pipeline import EventHub, StreamPipeline
from safeship.events.storage import EventStorage
from safeship.fleet.simulated import FleetModel, SimulatedProvider, VersionBehaviour
from safeship.metrics.promql import Engine
from safeship.metrics.sources.promql import PromQLMetricsSource
from safeship.metrics.store import SeriesStore
from safeship.rollout.journal import StoreJournal
from safeship.rollout.reconciler import Reconciler
from safeship.rollout.state import Phase, new_status
from safeship.store.repository import Store
from safeship.traffic.simulated import SimulatedRouter, version_shares
from safeship.wiring.simulate import simulated_verify

EVENTS_PER_S = 50
SEL = 'service="{{service}}",version="{{version}}"'
ERRORS = f"sum(sum_over_time(safeship_events_errors_total{{{SEL}}}[2m]))"
TOTAL = f"sum(sum_over_time(safeship_events_total{{{SEL}}}[2m]))"
SPEC = {
    "service": {"name": "shop", "command": ["shop"], "stable": "v1"},
    "fleet": {"replicas": 4},
    "analysis": {
        "interval": "30s",
        "window": "2m",
        "metrics": [
            {
                "name": "event-error-ratio",
                "query": f"{ERRORS} / {TOTAL}",
                "samplesQuery": TOTAL,
                "minSamples": 200,
                "failIf": "result > 0.05",
            }
        ],
    },
    "strategy": {
        "canary": {
            "canaryReplicas": 1,
            "steps": [{"setWeight": 20}, {"analysis": {"count": 3}}, {"setWeight": 60}],
        }
    },
}


class EventfulClock(VirtualClock):
    """Virtual time in which the fleet emits events: each second, `EVENTS_PER_S` events split
    by the router's current shares, each an error with its version's error ratio."""

    def __init__(self, model: FleetModel) -> None:
        super().__init__()
        self.start = self.now()
        self.model, self.rng, self.sent = model, np.random.default_rng(3), 0
        self.router: SimulatedRouter | None = None
        self.pipeline: StreamPipeline | None = None

    async def sleep(self, seconds: float) -> None:
        if self.now() > self.start + 3600:
            raise AssertionError("the rollout did not finish in an hour of virtual time")
        end = self.now() + seconds
        while self.now() + 1 <= end:
            self._emit()
            self.advance(1)
        self.advance(end - self.now())

    def _emit(self) -> None:
        if self.router is None or self.pipeline is None:
            return
        events = []
        for version, share in version_shares(self.router.current()).items():
            ratio = self.model.behaviour(version).error_ratio
            for _ in range(self.rng.binomial(EVENTS_PER_S, share)):
                failed = self.rng.random() < ratio
                events.append(
                    {
                        "id": str(self.sent),
                        "service": "shop",
                        "timestamp": self.now(),
                        "latency_ms": 20.0,
                        "level": "error" if failed else "info",
                        "version": version,
                    }
                )
                self.sent += 1
        self.pipeline.ingest(events)


async def fly(tmp_path: Path, *, canary: str, model: FleetModel) -> Phase:
    spec = RolloutSpec.model_validate(SPEC)
    clock = EventfulClock(model)
    store = SeriesStore(retention=3600)
    storage = EventStorage.open(f"sqlite:///{tmp_path / 'events.db'}")
    hub = EventHub(EventsSpec(), storage=storage, store=store, clock=clock)
    hub.restore()
    rng = np.random.default_rng(0)
    provider = SimulatedProvider(service="shop", model=model, clock=clock, rng=rng, pools={"v1": 4})
    router = SimulatedRouter(model=model, clock=clock, rng=rng)
    await router.apply(TrafficSplit(stable=tuple(await provider.replicas())))
    clock.router, clock.pipeline = router, hub.http_stream(None)
    metrics = PromQLMetricsSource(Engine(store), service="shop", clock=clock)
    with Store.open("sqlite://", clock=clock) as state:
        reconciler = Reconciler(
            spec=spec,
            provider=provider,
            router=router,
            metrics=metrics,
            sink=StoreJournal(state, actor="test", clock=clock),
            clock=clock,
            verifier=simulated_verify,
        )
        status = new_status(spec, rollout_id="r1", stable="v1", canary=canary, now=clock.now())
        final = await reconciler.run(status)
    storage.close()
    assert clock.sent > 0
    return final.phase


WORLD = FleetModel(
    behaviours={
        "v1": VersionBehaviour(error_ratio=0.01),
        "v2": VersionBehaviour(error_ratio=0.01),
        "v3": VersionBehaviour(error_ratio=0.25),
    }
)


@pytest.mark.parametrize(("canary", "phase"), [("v3", Phase.ROLLED_BACK), ("v2", Phase.PROMOTED)])
def test_a_rollout_judged_on_event_aggregates_rolls_back_a_bad_canary(
    tmp_path: Path, canary: str, phase: Phase
) -> None:
    assert asyncio.run(fly(tmp_path, canary=canary, model=WORLD)) is phase
