"""The planner with a fresh baseline pool: one tick at a time, assert the actions."""

from __future__ import annotations

from typing import Any

import pytest

from safeship.config.models import RolloutSpec
from safeship.rollout.planner import plan
from safeship.rollout.state import (
    Action,
    Observations,
    Phase,
    RolloutStatus,
    Route,
    Scale,
    Traffic,
    new_status,
    ready_key,
)

T0 = 1_000.0


def spec(pool: str = "fresh", *, strategy: str = "canary") -> RolloutSpec:
    strategies: dict[str, Any] = {
        "canary": {
            "canaryReplicas": 2,
            "baseline": {"pool": pool},
            "steps": [{"setWeight": 10}, {"setCanaryScale": {"replicas": 3}}, {"setWeight": 60}],
        },
        "trafficSplit": {"stages": [20, 100], "baseline": {"pool": pool}},
    }
    return RolloutSpec.model_validate(
        {
            "service": {"name": "web", "command": ["serve", "{port}"]},
            "fleet": {"replicas": 4},
            "strategy": {strategy: strategies[strategy]},
        }
    )


FRESH = spec()


def status(s: RolloutSpec = FRESH, **changes: object) -> RolloutStatus:
    base = new_status(s, rollout_id="r1", stable="v1", canary="v2", now=T0)
    return base.model_copy(update=changes)


def world(
    canary: int = 2, baseline: int = 2, weight: float = 0.0, base_w: float = 0.0
) -> Observations:
    ready = {"v1": 4, "v2": canary, ready_key("v1", "baseline"): baseline}
    return Observations(ready=ready, traffic=Traffic("v1", "v2", weight, baseline_weight=base_w))


def test_ready_key_keeps_the_baseline_apart_from_the_stable_pool() -> None:
    assert (ready_key("v1"), ready_key("v1", "main"), ready_key("v1", "baseline")) == (
        "v1",
        "v1",
        "v1@baseline",
    )


@pytest.mark.parametrize(
    ("observed", "s", "expected"),
    [
        # nothing yet: canary and a baseline as big as the canary, then routing
        (
            Observations(ready={"v1": 4}, traffic=Traffic("v1")),
            status(),
            (Scale("v2", 2), Scale("v1", 2, role="baseline"), Route("v1", "v2", 0.0)),
        ),
        # a baseline replica died: only it is replaced
        (world(baseline=1), status(), (Scale("v1", 2, role="baseline"),)),
        # weight 10: the baseline gets the same 10 %
        (world(weight=0.0), status(canary_weight=10), (Route("v1", "v2", 10, None, 10),)),
        # setCanaryScale 3: the baseline follows
        (
            world(weight=10, base_w=10),
            status(canary_weight=10, canary_scale=3),
            (Scale("v2", 3), Scale("v1", 3, role="baseline")),
        ),
        # above 50 %: the baseline takes only what the canary leaves
        (
            world(canary=3, baseline=3, weight=10, base_w=10),
            status(canary_weight=60, canary_scale=3),
            (Route("v1", "v2", 60, None, 40),),
        ),
    ],
)
def test_steady_state_with_a_fresh_baseline(
    observed: Observations, s: RolloutStatus, expected: tuple[Action, ...]
) -> None:
    assert plan(FRESH, s, observed, T0).actions == expected


def test_a_converged_baseline_lets_the_steps_run() -> None:
    result = plan(FRESH, status(), world(), T0 + 1)
    assert result.actions == ()
    assert result.status.canary_weight == 10


def test_the_default_stable_baseline_plans_exactly_as_before() -> None:
    stable = spec("stable")
    obs = Observations(ready={"v1": 4}, traffic=Traffic("v1"))
    assert plan(stable, status(stable), obs, T0).actions == (Scale("v2", 2), Route("v1", "v2", 0.0))


def test_traffic_split_starts_a_fresh_baseline_too() -> None:
    split = spec(strategy="trafficSplit")
    obs = Observations(ready={"v1": 4}, traffic=Traffic("v1"))
    assert plan(split, status(split), obs, T0).actions == (
        Scale("v2", 1),
        Scale("v1", 1, role="baseline"),
        Route("v1", "v2", 0.0),
    )


def test_promotion_takes_the_baseline_out_of_routing_then_stops_it() -> None:
    promoting = status(phase=Phase.PROMOTING, step_index=3, canary_weight=10)
    result = plan(FRESH, promoting, world(weight=10, base_w=10), T0 + 60)
    assert result.actions == (
        Scale("v2", 4),
        Route("v2", None, 0.0),
        Scale("v1", 0),
        Scale("v1", 0, role="baseline"),
    )
    done = Observations(ready={"v2": 4}, traffic=Traffic("v2"))
    assert plan(FRESH, promoting, done, T0 + 61).status.phase is Phase.PROMOTED


def test_rollback_removes_the_canary_and_the_baseline() -> None:
    rolling_back = status(phase=Phase.ROLLING_BACK, canary_weight=10)
    result = plan(FRESH, rolling_back, world(weight=10, base_w=10), T0 + 6)
    assert result.actions == (
        Route("v1", None, 0.0),
        Scale("v2", 0),
        Scale("v1", 0, role="baseline"),
    )
    done = Observations(ready={"v1": 4}, traffic=Traffic("v1"))
    assert plan(FRESH, rolling_back, done, T0 + 7).status.phase is Phase.ROLLED_BACK


def test_a_leftover_baseline_is_removed_even_when_the_spec_says_stable() -> None:
    stable = spec("stable")
    rolling_back = status(stable, phase=Phase.ROLLING_BACK, canary_weight=10)
    leftover = Observations(ready={"v1": 4, "v1@baseline": 1}, traffic=Traffic("v1"))
    assert plan(stable, rolling_back, leftover, T0).actions == (Scale("v1", 0, role="baseline"),)


def test_gradual_rollback_keeps_the_baseline_at_the_canary_share() -> None:
    rolling_back = status(
        phase=Phase.ROLLING_BACK, canary_weight=40, rollback_mode="gradual", rollback_wave=1
    )
    result = plan(FRESH, rolling_back, world(weight=40, base_w=40), T0)
    assert result.actions == (Route("v1", "v2", 20, None, 20),)
