"""The flight simulator: simulated fleet and router behaviour, faults, and reproducible flights."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from safeship.config.loader import load_rollout_spec
from safeship.config.models import RolloutSpec
from safeship.core.errors import DeployError
from safeship.core.types import Replica, TrafficSplit
from safeship.fleet.simulated import FleetModel, SimulatedProvider, VersionBehaviour
from safeship.testing import FakeClock
from safeship.traffic.simulated import SimulatedRouter, version_shares
from safeship.wiring.faults import FaultError, behaviours_from_spec, parse_faults
from safeship.wiring.simulate import Flight, simulate

EXAMPLE = Path(__file__).parents[2] / "examples" / "canary.yaml"


def spec() -> RolloutSpec:
    return load_rollout_spec(EXAMPLE)


def provider(model: FleetModel, clock: FakeClock, *, targets: int = 0) -> SimulatedProvider:
    names = {f"t{i}": {"zone": "a"} for i in range(targets)}
    return SimulatedProvider(
        service="web",
        model=model,
        clock=clock,
        rng=np.random.default_rng(0),
        targets=names,
        running="v1",
    )


def fly(model: FleetModel, *, version: str, seed: int = 7, targets: int = 4) -> Flight:
    return asyncio.run(simulate(spec(), version=version, targets=targets, model=model, seed=seed))


@pytest.mark.parametrize(
    ("faults", "check"),
    [
        (["version=v2,error-ratio=0.1"], lambda m: m.behaviour("v2").error_ratio == 0.1),
        (["version=v2,latency-ms=250"], lambda m: m.behaviour("v2").latency_ms == 250),
        (["target-fail=0.01"], lambda m: m.target_fail == 0.01),
        (["version=v3,start-fail=1"], lambda m: m.behaviour("v3").start_fail == 1),
        (["metrics-down"], lambda m: m.metrics_down == (0.0, float("inf"))),
        (["metrics-down,from=1m,for=30s"], lambda m: m.metrics_down == (60.0, 90.0)),
        (
            ["deploy-time=1m,deploy-jitter=0s"],
            lambda m: (m.deploy_time_s, m.deploy_jitter_s) == (60, 0),
        ),
        (["rate=5", "rate=7"], lambda m: m.request_rate == 7),
    ],
)
def test_faults_change_the_simulated_world(
    faults: list[str], check: Callable[[FleetModel], bool]
) -> None:
    assert check(parse_faults(faults, FleetModel()))


@pytest.mark.parametrize(
    "fault",
    [
        "version=v2,error-ratio=2",
        "target-fail=lots",
        "explode",
        "version=v2,colour=red",
        "metrics-down,for=soon",
    ],
)
def test_unreadable_faults_are_refused_with_the_fault_named(fault: str) -> None:
    with pytest.raises(FaultError, match="--fault"):
        parse_faults([fault], FleetModel())


def test_version_args_of_the_demo_service_become_behaviours() -> None:
    behaviours = behaviours_from_spec(spec())
    assert behaviours["v3"] == VersionBehaviour(error_ratio=0.1, latency_ms=150)


def test_parallel_deploys_take_the_slowest_not_the_sum() -> None:
    clock = FakeClock(0)
    fleet = provider(FleetModel(deploy_time_s=10, deploy_jitter_s=0), clock, targets=5)

    async def wave() -> None:
        await asyncio.gather(*(fleet.deploy(f"t{i}", "v2") for i in range(5)))

    asyncio.run(wave())
    assert clock.now() == pytest.approx(10)
    assert {t.version for t in asyncio.run(fleet.targets())} == {"v2"}


def test_sequential_deploys_add_up_and_repeating_one_is_free() -> None:
    clock = FakeClock(0)
    fleet = provider(FleetModel(deploy_time_s=10, deploy_jitter_s=0), clock, targets=2)

    async def one_by_one() -> None:
        await fleet.deploy("t0", "v2")
        await fleet.deploy("t1", "v2")
        await fleet.deploy("t1", "v2")

    asyncio.run(one_by_one())
    assert clock.now() == pytest.approx(20)
    assert fleet.deploys == 2


def test_a_failed_deploy_raises_and_leaves_the_target_empty() -> None:
    fleet = provider(FleetModel(target_fail=1.0), FakeClock(0), targets=1)
    with pytest.raises(DeployError, match="t0"):
        asyncio.run(fleet.deploy("t0", "v2"))
    target = asyncio.run(fleet.targets())[0]
    assert (target.version, target.healthy, fleet.failures) == (None, False, 1)


def test_scaling_pools_counts_replicas_and_targets_appear_as_replicas() -> None:
    clock = FakeClock(0)
    fleet = provider(FleetModel(deploy_jitter_s=0, deploy_time_s=3), clock, targets=2)

    async def scale() -> list[Replica]:
        await fleet.scale("v2", 3)
        await fleet.scale("v2", 1)
        return await fleet.replicas()

    versions = sorted(r.version for r in asyncio.run(scale()))
    assert versions == ["v1", "v1", "v2"]
    assert clock.now() == pytest.approx(3)


def replicas(version: str, count: int) -> tuple[Replica, ...]:
    return tuple(Replica(f"{version}-{i}", version, "sim", 0) for i in range(count))


def test_traffic_shares_follow_the_canary_weight() -> None:
    split = TrafficSplit(stable=replicas("v1", 3), canary=replicas("v2", 1), canary_weight=25)
    assert version_shares(split) == {"v1": 0.75, "v2": 0.25}
    assert version_shares(TrafficSplit(stable=replicas("v1", 2))) == {"v1": 1.0}


def test_router_counters_reflect_rate_weight_and_error_ratio() -> None:
    clock = FakeClock(0)
    model = FleetModel(request_rate=1000, behaviours={"v2": VersionBehaviour(error_ratio=0.2)})
    router = SimulatedRouter(model=model, clock=clock, rng=np.random.default_rng(1))
    split = TrafficSplit(stable=replicas("v1", 1), canary=replicas("v2", 1), canary_weight=10)
    asyncio.run(router.apply(split))
    clock.advance(100)
    counters = router.counters()
    assert counters["v2"].requests == pytest.approx(10_000, rel=0.05)
    assert counters["v1"].requests == pytest.approx(90_000, rel=0.05)
    assert counters["v2"].errors / counters["v2"].requests == pytest.approx(0.2, abs=0.02)
    assert counters["v1"].errors == 0
    assert counters["v1"].duration_buckets[-1] == counters["v1"].requests


def test_a_flight_is_the_same_twice_with_the_same_seed() -> None:
    model = parse_faults(["target-fail=0.05"], FleetModel(behaviours=behaviours_from_spec(spec())))
    first, second = fly(model, version="v2"), fly(model, version="v2")
    assert first.timeline == second.timeline
    assert first.checks == second.checks
    assert (first.phase, first.duration_s) == (second.phase, second.duration_s)


@pytest.mark.parametrize(
    ("version", "faults", "verdict", "phase"),
    [
        ("v2", [], "pass", "Promoted"),
        ("v3", [], "roll back", "RolledBack"),
        ("v2", ["version=v2,error-ratio=0.1"], "roll back", "RolledBack"),
        ("v2", ["metrics-down"], "pause", "Paused"),
        ("v2", ["target-fail=1"], "roll back", "RolledBack"),
        ("v2", ["version=v2,start-fail=1"], "roll back", "RolledBack"),
    ],
)
def test_a_flight_says_whether_checks_pass_pause_or_roll_back(
    version: str, faults: list[str], verdict: str, phase: str
) -> None:
    model = parse_faults(faults, FleetModel(behaviours=behaviours_from_spec(spec())))
    flight = fly(model, version=version)
    assert (flight.verdict, flight.phase) == (verdict, phase), flight.reason
    assert flight.timeline and flight.duration_s > 0


def test_a_good_flight_runs_every_analysis_step_in_virtual_time() -> None:
    flight = fly(FleetModel(), version="v2")
    assert [c.outcome for c in flight.checks] == ["pass"] * 6  # two analysis steps of count 3
    assert flight.duration_s > 60  # two analyses and a 30 s pause
    assert flight.wall_s < 5


WAVES = {
    "service": {"name": "node", "command": ["node", "{port}"], "stable": "v1"},
    "fleet": {"replicas": 20},
    "analysis": {
        "interval": "10s",
        "window": "30s",
        "metrics": [{"name": "ok", "builtin": "request-success-rate", "min": 0.99}],
    },
    "strategy": {"waves": {"canary": {"count": 2}, "analysis": {"count": 2}}},
}


@pytest.mark.parametrize(
    ("faults", "verdict"),
    [
        ([], "pass"),
        (["version=v2,error-ratio=0.2"], "roll back"),
        (["target-fail=0.5"], "roll back"),
    ],
)
def test_waves_over_a_large_simulated_fleet(faults: list[str], verdict: str) -> None:
    waves = RolloutSpec.model_validate(WAVES)
    model = parse_faults(["rate=2000", *faults], FleetModel())
    flight = asyncio.run(simulate(waves, version="v2", targets=2000, model=model, seed=3))
    assert flight.verdict == verdict, flight.reason
    assert flight.deploys >= 2
