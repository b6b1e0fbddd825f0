"""The migration tracker and its Prometheus collector: per-target state, progress, stage,
velocity, ETA — from the persisted status and the compiled steps alone."""

from __future__ import annotations

from typing import Any

import pytest
from prometheus_client import CollectorRegistry

from safeship.config.models import RolloutSpec
from safeship.rollout.metrics import RolloutCollector, RolloutView
from safeship.rollout.state import Phase, RolloutStatus, new_status
from safeship.rollout.strategies import compile_steps, local_targets
from safeship.rollout.tracker import TargetState, stage_of, track

T0 = 10_000.0
WAVES = RolloutSpec.model_validate(
    {
        "service": {"name": "mesh", "command": ["serve"]},
        "fleet": {"replicas": 4},
        "strategy": {"waves": {"canary": {"count": 1}, "waves": [50, 100]}},
    }
)
STEPS = compile_steps(WAVES, local_targets(WAVES))  # canary mesh-0; 50%: mesh-1; 100%: rest
NAMES = [f"mesh-{i}" for i in range(4)]


def status(**changes: Any) -> RolloutStatus:
    base = new_status(WAVES, rollout_id="r1", stable="v1", canary="v2", now=T0)
    return base.model_copy(update=changes)


@pytest.mark.parametrize(
    ("changes", "states"),
    [
        ({}, ["deploying", "stable", "stable", "stable"]),
        ({"step_index": 1}, ["canary", "deploying", "stable", "stable"]),
        ({"step_index": 2}, ["canary", "verified", "deploying", "deploying"]),
        ({"step_index": 2, "phase": Phase.ROLLED_BACK}, ["rolled back"] * 4),
        ({"step_index": 1, "phase": Phase.ROLLED_BACK}, ["rolled back"] * 2 + ["stable"] * 2),
        ({"step_index": 3, "phase": Phase.PROMOTED}, ["verified"] * 4),
    ],
)
def test_every_target_has_a_state(changes: dict[str, Any], states: list[str]) -> None:
    migration = track(STEPS, status(**changes), NAMES, T0 + 60)
    assert [s.value for s in migration.targets.values()] == states


def test_progress_velocity_and_eta() -> None:
    migration = track(STEPS, status(step_index=2), NAMES, T0 + 1800)  # 2 done in half an hour
    assert (migration.done, migration.total, migration.progress) == (2, 4, 0.5)
    assert migration.stage == "majority"
    assert migration.velocity_per_hour == pytest.approx(4.0)
    assert migration.eta_seconds == pytest.approx(1800.0)
    assert TargetState.CANARY in migration.targets.values()


@pytest.mark.parametrize(
    ("progress", "stage"),
    [
        (0.0, "initialization"),
        (0.049, "initialization"),
        (0.05, "early adopters"),
        (0.3, "majority"),
        (0.8, "finalization"),
        (0.99, "finalization"),
        (1.0, "completed"),
    ],
)
def test_stages_by_progress(progress: float, stage: str) -> None:
    assert stage_of(progress) == stage


def test_pool_strategies_progress_by_traffic_share() -> None:
    migration = track((), status(canary_weight=25.0), [], T0 + 10)
    assert (migration.progress, migration.stage, migration.targets) == (0.25, "majority", {})


def test_collector_exports_rollout_gauges_on_the_registry_it_is_given() -> None:
    registry = CollectorRegistry()
    view = RolloutView(status(step_index=2, canary_weight=50.0), STEPS, NAMES, {"mesh-0": True})
    RolloutCollector(lambda: [view], registry=registry, clock=lambda: T0 + 60)
    labels = {"service": "mesh", "rollout": "r1"}
    assert registry.get_sample_value("safeship_migration_progress_ratio", labels) == 0.5
    assert registry.get_sample_value("safeship_rollout_step", labels) == 2
    assert registry.get_sample_value("safeship_rollout_weight", labels) == 50.0
    phase = {**labels, "phase": "Progressing"}
    assert registry.get_sample_value("safeship_rollout_phase", phase) == 1.0
    health = {"service": "mesh", "target": "mesh-0"}
    assert registry.get_sample_value("safeship_target_health", health) == 1.0
