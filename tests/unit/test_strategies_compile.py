"""Each strategy compiles the user's few numbers into the common step list."""

from __future__ import annotations

from typing import Any

import pytest

from safeship.config.models import RolloutSpec
from safeship.core.types import Target
from safeship.rollout.steps import (
    Analysis,
    Deploy,
    Pause,
    SetCanaryScale,
    SetWeight,
    Step,
    Verify,
    deployed_before,
)
from safeship.rollout.strategies import compile_steps, local_targets


def spec(strategy: dict[str, Any], **extra: Any) -> RolloutSpec:
    doc: dict[str, Any] = {
        "service": {"name": "web", "command": ["serve"]},
        "fleet": {"replicas": 8},
        "analysis": {"metrics": [{"name": "ok", "builtin": "request-success-rate", "min": 0.9}]},
        "strategy": strategy,
        **extra,
    }
    return RolloutSpec.model_validate(doc)


def deploys(steps: tuple[Step, ...]) -> list[tuple[str, tuple[str, ...]]]:
    return [(s.label, s.targets) for s in steps if isinstance(s, Deploy)]


def names(*indexes: int) -> tuple[str, ...]:
    return tuple(f"web-{i}" for i in indexes)


@pytest.mark.parametrize(
    ("rolling", "expected"),
    [
        ({"batchSize": 3}, [names(0, 1, 2), names(3, 4, 5), names(6, 7)]),
        ({"batchSize": "50%"}, [names(0, 1, 2, 3), names(4, 5, 6, 7)]),
        ({}, [names(i) for i in range(8)]),
    ],
)
def test_rolling_batches_by_count_or_share(rolling: dict[str, Any], expected: list[Any]) -> None:
    s = spec({"rolling": rolling})
    assert [t for _, t in deploys(compile_steps(s, local_targets(s)))] == expected


def test_rolling_batch_has_analysis_and_pause_between_batches() -> None:
    s = spec({"rolling": {"batchSize": "50%", "pauseBetweenBatches": "10s", "analysis": {}}})
    kinds = [type(step) for step in compile_steps(s, local_targets(s))]
    assert kinds == [Deploy, Analysis, Pause, Deploy, Analysis]


def test_rolling_surge_deploys_without_draining() -> None:
    s = spec({"rolling": {"batchSize": 4, "maxUnavailable": 1, "maxSurge": 1}})
    first = compile_steps(s, local_targets(s))[0]
    assert isinstance(first, Deploy)
    assert (first.parallel, first.drain) == (2, False)


def test_waves_canaries_then_default_waves_cover_the_fleet_once() -> None:
    s = spec({"waves": {"canary": {"count": 1}}})
    assert deploys(compile_steps(s, local_targets(s))) == [
        ("canary targets", names(0)),
        ("wave 25%", names(1)),
        ("wave 50%", names(2, 3)),
        ("wave 75%", names(4, 5)),
        ("wave 100%", names(6, 7)),
    ]  # 5% of 8 is covered by the canary already


def test_waves_canaries_by_selector_or_names() -> None:
    labels = {"fleet": {"replicas": 8, "labels": {"web-5": {"ring": "0"}, "web-6": {"ring": "0"}}}}
    by_label = spec({"waves": {"canary": {"selector": {"ring": "0"}}, "waves": [100]}}, **labels)
    by_name = spec({"waves": {"canary": {"names": ["web-3"]}, "waves": [50, 100]}})
    assert deploys(compile_steps(by_label, local_targets(by_label)))[0][1] == names(5, 6)
    assert deploys(compile_steps(by_name, local_targets(by_name)))[:2] == [
        ("canary targets", names(3)),
        ("wave 50%", names(0, 1, 2)),
    ]


def test_waves_enhanced_canary_analysis_and_criteria_between_waves() -> None:
    s = spec({"waves": {"waves": [50, 100], "canaryAnalysis": {"count": 5}, "analysis": {}}})
    steps = compile_steps(s, local_targets(s))
    assert [type(x) for x in steps] == [Deploy, Analysis, Deploy, Analysis, Deploy, Analysis]
    assert isinstance(steps[1], Analysis) and steps[1].count == 5


def test_waves_over_a_large_fleet_deploy_every_target_exactly_once() -> None:
    s = spec({"waves": {}})
    fleet = [Target(f"n{i}") for i in range(10_000)]
    steps = compile_steps(s, fleet)
    done = deployed_before(steps, len(steps))
    assert len(done) == len(set(done)) == 10_000


def test_traffic_split_stages_with_stability_and_consecutive_failures() -> None:
    s = spec({"trafficSplit": {"interval": "10s", "stabilityPeriod": "30s", "failureThreshold": 3}})
    steps = compile_steps(s)
    weights = [x.weight for x in steps if isinstance(x, SetWeight)]
    check = steps[1]
    assert weights == [5, 25, 50, 75, 90, 100]
    assert isinstance(check, Analysis)
    assert (check.count, check.failure_limit, check.consecutive) == (3, 2, True)


def test_blue_green_full_size_then_preview_then_switch_then_window() -> None:
    s = spec(
        {"blueGreen": {"previewWeight": 10, "analysis": {}, "rollbackWindow": "1m"}},
        verify={"versionPath": "/version"},
    )
    steps = compile_steps(s)
    assert steps[0] == SetCanaryScale(8)
    assert steps[1] == Verify()
    assert steps[2] == SetWeight(10)
    assert isinstance(steps[3], Analysis)
    assert steps[4:] == (SetWeight(100), Pause(60))


def test_blue_green_without_auto_promote_waits_before_the_switch() -> None:
    steps = compile_steps(spec({"blueGreen": {"autoPromote": False}}))
    assert steps[-3:] == (Pause(None), SetWeight(100), Pause(30))


def test_canary_keeps_the_users_steps_including_open_pause_and_scale() -> None:
    s = spec(
        {
            "canary": {
                "steps": [
                    {"setCanaryScale": {"replicas": 2}},
                    {"setWeight": 10},
                    {"pause": {}},
                    {"verify": {}},
                ]
            }
        },
        verify={},
    )
    assert compile_steps(s) == (SetCanaryScale(2), SetWeight(10), Pause(None), Verify())
