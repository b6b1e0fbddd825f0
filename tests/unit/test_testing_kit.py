"""The test kit is enough to fly a rollout: simulated fleet, `none` router, static metrics,
fake clock — the same Reconciler and planner as `safeship run`, nothing real touched."""

from __future__ import annotations

import asyncio

import numpy as np
import pytest

from safeship.analysis.measurement import Measurement
from safeship.config.models import RolloutSpec, RouterSpec
from safeship.rollout.journal import StoreJournal
from safeship.rollout.reconciler import Reconciler
from safeship.rollout.state import Phase, new_status
from safeship.store.repository import Store
from safeship.testing import (
    FakeClock,
    FleetModel,
    NopRouter,
    SimulatedProvider,
    StaticMetricsSource,
)
from safeship.traffic.proxy.embedded import EmbeddedRouter
from safeship.traffic.router import router_for

SPEC = RolloutSpec.model_validate(
    {
        "service": {"name": "shop", "command": ["serve"], "stable": "v1"},
        "fleet": {"replicas": 4},
        "router": {"kind": "none"},
        "analysis": {
            "interval": "10s",
            "metrics": [{"name": "errors", "query": "sum(errors)", "failIf": "result > 1"}],
        },
        "strategy": {"rolling": {"batchSize": 2, "analysis": {"count": 1}}},
    }
)


def roll_out(errors: float) -> Phase:
    clock = FakeClock()
    provider = SimulatedProvider(
        service="shop",
        model=FleetModel(deploy_time_s=5, deploy_jitter_s=0),
        clock=clock,
        rng=np.random.default_rng(0),
        targets={name: {} for name in SPEC.fleet.target_names("shop")},
        running="v1",
    )
    metrics = StaticMetricsSource({("errors", "v2"): Measurement(errors, 100, 30.0)})

    async def run() -> Phase:
        with Store.open("sqlite://", clock=clock) as store:
            reconciler = Reconciler(
                spec=SPEC,
                provider=provider,
                router=NopRouter(),
                metrics=metrics,
                sink=StoreJournal(store, actor="test", clock=clock),
                clock=clock,
            )
            status = new_status(SPEC, rollout_id="r1", stable="v1", canary="v2", now=clock.now())
            return (await reconciler.run(status)).phase

    return asyncio.run(run())


@pytest.mark.parametrize(("errors", "phase"), [(0.0, Phase.PROMOTED), (5.0, Phase.ROLLED_BACK)])
def test_a_rolling_rollout_flies_on_the_kit_alone(errors: float, phase: Phase) -> None:
    assert roll_out(errors) is phase


def test_a_metric_the_static_source_does_not_know_is_inconclusive() -> None:
    source = StaticMetricsSource({})
    metric = SPEC.analysis.metrics[0]
    measured = asyncio.run(source.measure(metric, version="v2", window=30.0))
    assert measured.value is None and measured.error


def test_the_router_factory_builds_the_kind_the_spec_names() -> None:
    assert isinstance(router_for(RouterSpec(kind="none"), service="shop"), NopRouter)
    embedded = router_for(RouterSpec(listen="127.0.0.1:0", drainTimeout="5s"), service="shop")
    assert isinstance(embedded, EmbeddedRouter) and embedded.service == "shop"
