"""The planner, one tick at a time, for every step kind, target strategies and manual gates."""

from __future__ import annotations

from typing import Any

import pytest

from safeship.analysis.measurement import Measurement
from safeship.config.models import RolloutSpec
from safeship.core.types import Replica, Target
from safeship.rollout.planner import plan
from safeship.rollout.state import (
    DeployTarget,
    Observations,
    Phase,
    Request,
    RolloutStatus,
    Route,
    Scale,
    Traffic,
    Trigger,
    VerifyResult,
    new_status,
)

T0 = 1_000.0
METRICS = {"metrics": [{"name": "ok", "builtin": "request-success-rate", "min": 0.95}]}


def make_spec(strategy: dict[str, Any], replicas: int = 4, **extra: Any) -> RolloutSpec:
    return RolloutSpec.model_validate(
        {
            "service": {"name": "web", "command": ["serve"]},
            "fleet": {"replicas": replicas},
            "analysis": {"interval": "5s", **METRICS},
            "strategy": strategy,
            **extra,
        }
    )


CANARY = make_spec(
    {
        "canary": {
            "steps": [
                {"setCanaryScale": {"replicas": 2}},
                {"setWeight": 40},
                {"pause": {}},
                {"verify": {}},
            ]
        }
    },
    verify={},
)
ROLLING = make_spec({"rolling": {"batchSize": 2, "maxUnavailable": 1, "healthTimeout": "10s"}})
SPLIT = make_spec(
    {
        "trafficSplit": {
            "stages": [50, 100],
            "interval": "5s",
            "stabilityPeriod": "10s",
            "failureThreshold": 2,
        }
    }
)


def status(spec: RolloutSpec, **changes: Any) -> RolloutStatus:
    base = new_status(spec, rollout_id="r1", stable="v1", canary="v2", now=T0)
    return base.model_copy(update=changes)


def pool(weight: float = 0.0, canary: int = 1, **measured: Measurement) -> Observations:
    return Observations(
        ready={"v1": 4, "v2": canary}, traffic=Traffic("v1", "v2", weight), measurements=measured
    )


def target(i: int, version: str | None, *, healthy: bool = True) -> Target:
    replica = Replica(f"web-{i}-{version}", version, "127.0.0.1", 9000 + i) if version else None
    return Target(f"web-{i}", {}, version, healthy and version is not None, replica)


def fleet(*versions: str | None, routed: tuple[int, ...] | None = None, **kw: Any) -> Observations:
    targets = tuple(target(i, v) for i, v in enumerate(versions))
    chosen = range(len(targets)) if routed is None else routed
    members = frozenset(targets[i].replica.id for i in chosen if targets[i].replica)  # type: ignore[union-attr]
    new = sum(1 for i in chosen if versions[i] == "v2")
    old = sum(1 for i in chosen if versions[i] == "v1")
    if new and old:
        traffic = Traffic("v1", "v2", round(100 * new / (new + old), 2), members)
    else:
        traffic = Traffic("v2" if new else "v1", None, 0.0, members)
    return Observations(ready={}, traffic=traffic, targets=targets, **kw)


def request(kind: str, **kw: Any) -> tuple[Request, ...]:
    return (Request(id=7, kind=kind, actor="ann", **kw),)  # type: ignore[arg-type]


# --- step kinds ---------------------------------------------------------------------------


def test_set_canary_scale_resizes_the_canary_pool_then_converges() -> None:
    scaled = plan(CANARY, status(CANARY), pool(), T0)
    assert scaled.status.canary_scale == 2 and scaled.status.step_index == 1
    again = plan(CANARY, scaled.status, pool(), T0)
    assert again.actions == (Scale("v2", 2),)


def test_open_pause_waits_for_a_person() -> None:
    waiting = plan(CANARY, status(CANARY, step_index=2, canary_scale=2), pool(0, 2), T0)
    assert waiting.status.phase is Phase.PAUSED
    assert waiting.status.message == "paused until promoted"
    later = plan(CANARY, waiting.status, pool(0, 2), T0 + 3600)
    assert later.status.phase is Phase.PAUSED and later.actions == ()


@pytest.mark.parametrize("kind", ["promote", "resume"])
def test_promote_or_resume_passes_an_open_pause(kind: str) -> None:
    paused = status(CANARY, step_index=2, canary_scale=2, phase=Phase.PAUSED)
    moved = plan(
        CANARY,
        paused,
        pool(
            0,
            2,
        )
        if False
        else pool_with(kind),
        T0 + 5,
    )
    assert moved.status.step_index == 3 and moved.status.phase is Phase.PROGRESSING
    assert moved.consumed == (7,)


def pool_with(kind: str) -> Observations:
    return Observations(
        ready={"v1": 4, "v2": 2}, traffic=Traffic("v1", "v2", 0.0), requests=request(kind)
    )


@pytest.mark.parametrize(
    ("verification", "phase", "step"),
    [
        (None, Phase.PROGRESSING, 3),
        (VerifyResult(True, "2 replicas report v2"), Phase.PROGRESSING, 4),
        (VerifyResult(False, "web-v2-1 reports 'v1'"), Phase.ROLLING_BACK, 3),
    ],
)
def test_verify_step_advances_waits_or_rolls_back(
    verification: VerifyResult | None, phase: Phase, step: int
) -> None:
    at_verify = status(CANARY, step_index=3, canary_scale=2)
    obs = Observations(
        ready={"v1": 4, "v2": 2}, traffic=Traffic("v1", "v2", 0.0), verification=verification
    )
    result = plan(CANARY, at_verify, obs, T0)
    assert (result.status.phase, result.status.step_index) == (phase, step)
    if phase is Phase.ROLLING_BACK:
        assert result.status.rollback_trigger is Trigger.VERIFICATION


GOOD = Measurement(0.99, 500, 30.0)
BAD = Measurement(0.5, 500, 30.0)


@pytest.mark.parametrize(
    ("history", "now_measured", "phase"),
    [
        (["fail"], BAD, Phase.ROLLING_BACK),  # 2 failed checks in a row
        (["fail", "pass"], BAD, Phase.PROGRESSING),  # broken run: keep checking
        (["pass"], GOOD, Phase.PROGRESSING),  # 2 passes in a row: stage done
    ],
)
def test_traffic_split_rolls_back_only_after_consecutive_failures(
    history: list[str], now_measured: Measurement, phase: Phase
) -> None:
    from safeship.rollout.state import Judgement

    judged = [Judgement(at=T0 + 5 * i, outcome=o, reason="") for i, o in enumerate(history, 1)]  # type: ignore[arg-type]
    st = status(SPLIT, step_index=1, canary_weight=50, judgements=judged)
    result = plan(SPLIT, st, pool(50, ok=now_measured), T0 + 5 * len(history) + 5)
    assert result.status.phase is phase
    if history == ["pass"]:
        assert result.status.step_index == 2


# --- target strategies --------------------------------------------------------------------


def test_empty_slots_are_filled_all_at_once_with_the_version_they_should_run() -> None:
    result = plan(ROLLING, status(ROLLING), fleet(None, None, None, None), T0)
    wanted = ["v2", "v2", "v1", "v1"]  # the first batch is under way
    assert result.actions == tuple(DeployTarget(f"web-{i}", v) for i, v in enumerate(wanted))


def test_a_batch_is_drained_then_deployed_one_target_at_a_time() -> None:
    result = plan(ROLLING, status(ROLLING), fleet("v1", "v1", "v1", "v1"), T0)
    drain, deploy = result.actions
    assert isinstance(drain, Route) and "web-0-v1" not in (drain.members or ())
    assert deploy == DeployTarget("web-0", "v2")


def test_a_deployed_target_gets_traffic_back_before_the_batch_passes() -> None:
    obs = fleet("v2", "v2", "v1", "v1", routed=(2, 3))
    (route,) = plan(ROLLING, status(ROLLING), obs, T0).actions
    assert isinstance(route, Route) and route.weight == 50.0


def test_a_healthy_batch_advances_to_the_next() -> None:
    result = plan(ROLLING, status(ROLLING), fleet("v2", "v2", "v1", "v1"), T0 + 1)
    assert result.status.step_index == 1
    assert "batch 1/2 deployed and healthy" in result.events[0]


def test_a_batch_not_healthy_in_time_rolls_back() -> None:
    sick = fleet("v2", "v2", "v1", "v1")
    sick = Observations(
        ready={}, traffic=sick.traffic, targets=(target(0, "v2", healthy=False), *sick.targets[1:])
    )
    result = plan(ROLLING, status(ROLLING), sick, T0 + 11)
    assert result.status.phase is Phase.ROLLING_BACK
    assert result.status.rollback_trigger is Trigger.HEALTH


def test_a_failed_batch_rolls_back_every_done_batch_newest_first() -> None:
    failing = status(ROLLING, step_index=1, phase=Phase.ROLLING_BACK)
    result = plan(ROLLING, failing, fleet("v2", "v2", "v2", "v1"), T0)
    deploys = [a for a in result.actions if isinstance(a, DeployTarget)]
    assert [d.target for d in deploys] == ["web-2", "web-0", "web-1"]
    assert {d.version for d in deploys} == {"v1"}


def test_gradual_target_rollback_undoes_one_batch_per_wave() -> None:
    gradual = status(
        ROLLING,
        step_index=1,
        phase=Phase.ROLLING_BACK,
        rollback_mode="gradual",
        rollback_wave=1,
        rollback_trigger=Trigger.MANUAL,
    )
    result = plan(ROLLING, gradual, fleet("v2", "v2", "v2", "v1"), T0)
    assert [a.target for a in result.actions if isinstance(a, DeployTarget)] == ["web-2"]


def test_all_targets_on_the_new_version_route_to_it_and_promote() -> None:
    done = status(ROLLING, step_index=2)
    first = plan(ROLLING, done, fleet("v2", "v2", "v2", "v2"), T0)
    assert first.status.phase is Phase.PROMOTING
    last = plan(ROLLING, first.status, fleet("v2", "v2", "v2", "v2"), T0)
    assert last.status.phase is Phase.PROMOTED


# --- manual gates -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "options", "phase", "extra"),
    [
        ("pause", {"reason": "lunch"}, Phase.PAUSED, {"message": "paused by ann (lunch)"}),
        ("abort", {}, Phase.ROLLING_BACK, {"aborted": True, "rollback_mode": "fast"}),
        ("rollback", {"mode": "gradual"}, Phase.ROLLING_BACK, {"rollback_mode": "gradual"}),
        ("promote", {"full": True}, Phase.PROMOTING, {}),
        ("promote", {}, Phase.PROMOTING, {"step_index": 4}),  # past the last step
        ("resume", {}, Phase.PROGRESSING, {"step_index": 3}),  # not paused: nothing to do
    ],
)
def test_gates_change_the_phase_and_are_consumed(
    kind: str, options: dict[str, Any], phase: Phase, extra: dict[str, Any]
) -> None:
    st = status(CANARY, step_index=3, canary_scale=2)  # verifying, no answer yet
    obs = Observations(
        ready={"v1": 4, "v2": 2},
        traffic=Traffic("v1", "v2", 0.0),
        requests=request(kind, **options),
    )
    result = plan(CANARY, st, obs, T0)
    assert result.status.phase is phase
    assert result.consumed == (7,)
    assert all(getattr(result.status, k) == v for k, v in extra.items())
    assert result.events[0].startswith(f"{kind} by ann")


def test_a_paused_rollout_resumes_and_measures_afresh() -> None:
    paused = status(CANARY, step_index=1, canary_scale=2, phase=Phase.PAUSED)
    obs = Observations(
        ready={"v1": 4, "v2": 2}, traffic=Traffic("v1", "v2", 0.0), requests=request("resume")
    )
    assert plan(CANARY, paused, obs, T0).status.phase is Phase.PROGRESSING


def test_a_request_to_a_finished_rollout_is_consumed_and_ignored() -> None:
    done = status(CANARY, phase=Phase.PROMOTED, finished_at=T0)
    result = plan(CANARY, done, pool_with("abort"), T0)
    assert result.status.phase is Phase.PROMOTED and result.consumed == (7,)
    assert "ignored" in result.events[0]


def test_fast_rollback_does_everything_at_once() -> None:
    back = status(CANARY, phase=Phase.ROLLING_BACK, canary_weight=40, canary_scale=2)
    result = plan(CANARY, back, pool(40, 2), T0)
    assert result.actions == (Route("v1", None, 0.0), Scale("v2", 0))


def test_rollback_can_be_switched_from_gradual_to_fast() -> None:
    back = status(
        CANARY, phase=Phase.ROLLING_BACK, rollback_mode="gradual", rollback_wave=1, canary_weight=40
    )
    obs = Observations(
        ready={"v1": 4, "v2": 1},
        traffic=Traffic("v1", "v2", 40.0),
        requests=request("rollback", mode="fast"),
    )
    result = plan(CANARY, back, obs, T0)
    assert result.status.rollback_mode == "fast"
    assert result.actions[0] == Route("v1", None, 0.0)


def gradual(**changes: Any) -> RolloutStatus:
    base = dict(
        phase=Phase.ROLLING_BACK,
        rollback_mode="gradual",
        rollback_wave=1,
        canary_weight=40.0,
        rollback_trigger=Trigger.ANALYSIS,
    )
    return status(CANARY, **{**base, **changes})


@pytest.mark.parametrize(
    ("st", "obs", "now", "expect"),
    [
        (gradual(), pool(40), T0, ("route", 20.0)),  # wave 1 halves the weight
        (gradual(), pool(20), T0, ("settled", None)),
        (gradual(rollback_wave_at=T0), pool(20, ok=BAD), T0 + 2, ("wait", None)),
        (gradual(rollback_wave_at=T0), pool(20, ok=BAD), T0 + 5, ("next", 2)),
        (gradual(rollback_wave_at=T0), pool(20, ok=GOOD), T0 + 5, ("cleared", None)),
        (gradual(rollback_wave=4), pool(5), T0, ("route", 0.0)),  # 40→20→10→5→0 (floor 5)
    ],
)
def test_gradual_rollback_shifts_back_in_waves_and_stops_when_cleared(
    st: RolloutStatus, obs: Observations, now: float, expect: tuple[str, Any]
) -> None:
    result = plan(CANARY, st, obs, now)
    what, value = expect
    if what == "route":
        assert isinstance(result.actions[0], Route) and result.actions[0].weight == value
    elif what == "settled":
        assert result.status.rollback_wave_at == now and result.actions == ()
    elif what == "wait":
        assert result.actions == () and result.requeue_after == pytest.approx(3.0)
    elif what == "next":
        assert result.status.rollback_wave == value
    else:
        assert result.status.phase is Phase.PAUSED
        assert "rollback stopped after wave 1" in result.status.message


def test_manual_rollback_never_counts_as_cleared() -> None:
    st = gradual(rollback_wave_at=T0, rollback_trigger=Trigger.MANUAL)
    assert plan(CANARY, st, pool(20, ok=GOOD), T0 + 5).status.rollback_wave == 2
