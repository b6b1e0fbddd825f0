"""The planner, one tick at a time: given spec, status and observations, assert the plan."""

from __future__ import annotations

import pytest

from safeship.analysis.measurement import Measurement
from safeship.analysis.verdict import Outcome
from safeship.config.models import RolloutSpec
from safeship.rollout.planner import plan
from safeship.rollout.state import (
    Judgement,
    Observations,
    Phase,
    RolloutStatus,
    Route,
    Scale,
    Traffic,
    new_status,
)

T0 = 1_000.0
SPEC = RolloutSpec.model_validate(
    {
        "service": {"name": "web", "command": ["serve", "{port}"]},
        "fleet": {"replicas": 4},
        "analysis": {
            "interval": "5s",
            "metrics": [
                {"name": "success", "builtin": "request-success-rate", "min": 0.99},
                {"name": "p99", "builtin": "request-duration-p99", "max": 300},
            ],
        },
        "strategy": {
            "canary": {
                "steps": [
                    {"setWeight": 20},
                    {"pause": {"duration": "30s"}},
                    {"analysis": {"count": 2, "inconclusiveLimit": 1}},
                ]
            }
        },
    }
)


def status(**changes: object) -> RolloutStatus:
    base = new_status(SPEC, rollout_id="r1", stable="v1", canary="v2", now=T0)
    return base.model_copy(update=changes)


def steady(weight: float = 0.0, **measured: Measurement) -> Observations:
    """The world exactly as a progressing status at `weight` wants it."""
    return Observations(
        ready={"v1": 4, "v2": 1}, traffic=Traffic("v1", "v2", weight), measurements=measured
    )


GOOD = {
    "success": Measurement(0.999, 500, 30.0),
    "p99": Measurement(120.0, 500, 30.0),
}
BAD = {"success": Measurement(0.90, 500, 30.0), "p99": Measurement(120.0, 500, 30.0)}
THIN = {"success": Measurement(1.0, 3, 30.0), "p99": Measurement(80.0, 3, 30.0)}


def test_world_is_converged_before_any_step_runs() -> None:
    obs = Observations(ready={"v1": 4}, traffic=Traffic("v1"))
    result = plan(SPEC, status(), obs, T0)
    assert result.actions == (Scale("v2", 1), Route("v1", "v2", 0.0))
    assert result.status.step_index == 0


def test_set_weight_advances_and_marks_first_canary_traffic() -> None:
    result = plan(SPEC, status(), steady(), T0 + 1)
    assert result.status.canary_weight == 20
    assert result.status.step_index == 1
    assert result.status.canary_traffic_at == T0 + 1
    follow = plan(SPEC, result.status, steady(0.0), T0 + 1)
    assert follow.actions == (Route("v1", "v2", 20),)


@pytest.mark.parametrize(
    ("elapsed", "step_after", "requeue"),
    [(10.0, 1, 20.0), (29.9, 1, pytest.approx(0.1)), (30.0, 2, 0.0)],
)
def test_timed_pause_waits_then_advances(elapsed: float, step_after: int, requeue: float) -> None:
    paused = status(step_index=1, step_started_at=T0, canary_weight=20)
    result = plan(SPEC, paused, steady(20), T0 + elapsed)
    assert result.status.step_index == step_after
    assert result.requeue_after == requeue
    assert result.actions == ()


def analysing(*outcomes: Outcome) -> RolloutStatus:
    judgements = [Judgement(at=T0 + 5 * i, outcome=o, reason="") for i, o in enumerate(outcomes)]
    return status(step_index=2, step_started_at=T0, canary_weight=20, judgements=judgements)


def test_analysis_waits_for_its_interval() -> None:
    result = plan(SPEC, analysing(), steady(20, **GOOD), T0 + 2)
    assert result.status.judgements == []
    assert result.requeue_after == pytest.approx(3.0)


@pytest.mark.parametrize(
    ("before", "measured", "phase", "step_index"),
    [
        ((), GOOD, Phase.PROGRESSING, 2),  # one pass of two needed: keep measuring
        ((Outcome.PASS,), GOOD, Phase.PROGRESSING, 3),  # second pass: step done
        ((), BAD, Phase.ROLLING_BACK, 2),  # failureLimit 0: first failure rolls back
        ((Outcome.INCONCLUSIVE,), THIN, Phase.PAUSED, 2),  # too little data twice: a person decides
        ((), {}, Phase.PROGRESSING, 2),  # no data once: inconclusive, within the limit
    ],
)
def test_analysis_outcomes(
    before: tuple[Outcome, ...], measured: dict[str, Measurement], phase: Phase, step_index: int
) -> None:
    result = plan(SPEC, analysing(*before), steady(20, **measured), T0 + 5 * len(before) + 5)
    assert result.status.phase is phase
    assert result.status.step_index == step_index
    assert result.status.last_judgement is not None


def test_failed_analysis_names_the_metric_and_value() -> None:
    result = plan(SPEC, analysing(), steady(20, **BAD), T0 + 5)
    assert "success: 0.9 < min 0.99" in result.status.message
    assert result.status.traffic_zero_at == T0 + 5


def test_no_data_is_never_a_pass() -> None:
    result = plan(SPEC, analysing(Outcome.PASS), steady(20), T0 + 10)
    assert result.status.step_index == 2
    assert result.status.last_judgement is not None
    assert result.status.last_judgement.outcome is Outcome.INCONCLUSIVE


def test_rollback_moves_traffic_first_then_stops_the_canary() -> None:
    rolling_back = status(phase=Phase.ROLLING_BACK, canary_weight=20)
    result = plan(SPEC, rolling_back, steady(20), T0 + 6)
    assert result.actions == (Route("v1", None, 0.0), Scale("v2", 0))
    done = Observations(ready={"v1": 4}, traffic=Traffic("v1"))
    final = plan(SPEC, rolling_back, done, T0 + 7)
    assert final.status.phase is Phase.ROLLED_BACK
    assert final.requeue_after is None


def test_promotion_scales_new_version_before_switching_and_stops_old_last() -> None:
    promoting = status(phase=Phase.PROMOTING, step_index=3, canary_weight=20)
    result = plan(SPEC, promoting, steady(20), T0 + 60)
    assert result.actions == (Scale("v2", 4), Route("v2", None, 0.0), Scale("v1", 0))
    done = Observations(ready={"v2": 4}, traffic=Traffic("v2"))
    assert plan(SPEC, promoting, done, T0 + 61).status.phase is Phase.PROMOTED


def test_all_steps_passed_starts_promotion() -> None:
    result = plan(SPEC, status(step_index=3, canary_weight=20), steady(20), T0 + 60)
    assert result.status.phase is Phase.PROMOTING


def test_failed_action_rolls_back_with_its_message() -> None:
    obs = Observations(
        ready={"v1": 4}, traffic=Traffic("v1"), action_error="v2 exited 3: boom: bad flag"
    )
    result = plan(SPEC, status(), obs, T0 + 1)
    assert result.status.phase is Phase.ROLLING_BACK
    assert "boom: bad flag" in result.status.message


def test_terminal_rollout_does_nothing() -> None:
    done = status(phase=Phase.PROMOTED)
    result = plan(SPEC, done, steady(), T0 + 99)
    assert result.actions == () and result.requeue_after is None


def test_paused_rollout_holds_position_and_keeps_the_world_converged() -> None:
    paused = status(phase=Phase.PAUSED, step_index=2, canary_weight=20)
    assert plan(SPEC, paused, steady(20), T0 + 99).status == paused
    drifted = Observations(ready={"v1": 3, "v2": 1}, traffic=Traffic("v1", "v2", 20))
    assert plan(SPEC, paused, drifted, T0 + 99).actions == (Scale("v1", 4),)
