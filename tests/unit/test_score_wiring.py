"""analysis.score wired into measurements: a Kayenta-style score, not "any failure fails"."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from safeship.analysis.judge import judge_metrics
from safeship.analysis.measurement import Measurement
from safeship.analysis.score import MARGINAL_REASON
from safeship.analysis.verdict import Outcome
from safeship.config.models import RolloutSpec, ScoreSpec
from safeship.rollout.planner import plan
from safeship.rollout.state import Observations, Phase, Traffic, new_status

T0 = 1_000.0
OK = Measurement(0.999, 500, 30.0)  # success rate above every min below
LOW = Measurement(0.90, 500, 30.0)


def spec(score: dict[str, Any] | None, weights: dict[str, Any]) -> RolloutSpec:
    metrics = [
        {"name": name, "builtin": "request-success-rate", "min": 0.99, **extra}
        for name, extra in weights.items()
    ]
    analysis: dict[str, Any] = {"interval": "5s", "metrics": metrics}
    if score is not None:
        analysis["score"] = score
    return RolloutSpec.model_validate(
        {
            "service": {"name": "web", "command": ["serve", "{port}"]},
            "fleet": {"replicas": 4},
            "analysis": analysis,
            "strategy": {"canary": {"steps": [{"setWeight": 20}, {"analysis": {"count": 2}}]}},
        }
    )


FOUR = {"a": {}, "b": {}, "c": {}, "d": {}}


@pytest.mark.parametrize(
    ("score", "weights", "measured", "outcome", "reason"),
    [
        # no score: any failure fails
        (None, FOUR, {"a": OK, "b": OK, "c": OK, "d": LOW}, Outcome.FAIL, "d:"),
        # 3 of 4 passed = 75: marginal with the defaults (pass 95, marginal 75)
        ({}, FOUR, {"a": OK, "b": OK, "c": OK, "d": LOW}, Outcome.INCONCLUSIVE, MARGINAL_REASON),
        # the same with a lower pass mark passes
        ({"pass": 75, "marginal": 50}, FOUR, {"a": OK, "b": OK, "c": OK, "d": LOW},
         Outcome.PASS, "score 75.0"),
        # 2 of 4 = 50: fails
        ({}, FOUR, {"a": OK, "b": OK, "c": LOW, "d": LOW}, Outcome.FAIL, "score 50.0"),
        # weights: the failing metric counts 1 of 20 → 95 passes
        ({}, {"a": {"weight": 19}, "b": {}}, {"a": OK, "b": LOW}, Outcome.PASS, "score 95.0"),
        # a critical metric's failure fails whatever the score
        ({"pass": 50, "marginal": 10}, {"a": {"weight": 19}, "b": {"critical": True}},
         {"a": OK, "b": LOW}, Outcome.FAIL, "critical metric failed: b"),
        # a metric without data never counts as a pass: it waits for data (the rollout pauses)
        ({}, {"a": {}, "b": {}}, {"a": OK}, Outcome.INCONCLUSIVE, "missing data: score 50.0"),
        # ... but the metrics that have data can fail on their own
        ({}, {"a": {}, "b": {}, "c": {}}, {"a": LOW, "b": LOW}, Outcome.FAIL, "score 0.0"),
        # nothing judged: inconclusive, never a pass
        ({}, {"a": {}}, {}, Outcome.INCONCLUSIVE, "no metric could be judged"),
        # all pass
        ({}, FOUR, {"a": OK, "b": OK, "c": OK, "d": OK}, Outcome.PASS, "score 100.0"),
    ],
)  # fmt: skip
def test_measurement_verdict_with_and_without_a_score(
    score: dict[str, Any] | None,
    weights: dict[str, Any],
    measured: dict[str, Measurement],
    outcome: Outcome,
    reason: str,
) -> None:
    s = spec(score, weights)
    verdict = judge_metrics(s.analysis.metrics, measured, score=s.analysis.score)
    assert verdict.outcome is outcome
    assert reason in verdict.reason


def _analysing(s: RolloutSpec, measured: dict[str, Measurement]) -> Any:
    status = new_status(s, rollout_id="r1", stable="v1", canary="v2", now=T0)
    status = status.model_copy(update={"step_index": 1, "canary_weight": 20})
    obs = Observations(
        ready={"v1": 4, "v2": 1}, traffic=Traffic("v1", "v2", 20), measurements=measured
    )
    return plan(s, status, obs, T0 + 5)


def test_a_marginal_score_pauses_the_rollout_for_a_person_at_once() -> None:
    result = _analysing(spec({}, FOUR), {"a": OK, "b": OK, "c": OK, "d": LOW})
    assert result.status.phase is Phase.PAUSED
    assert MARGINAL_REASON in result.status.message


def test_a_failing_score_rolls_back() -> None:
    result = _analysing(spec({}, FOUR), {"a": OK, "b": OK, "c": LOW, "d": LOW})
    assert result.status.phase is Phase.ROLLING_BACK
    assert "score 50.0" in result.status.message


def test_a_passing_score_counts_as_a_passing_measurement() -> None:
    result = _analysing(spec({}, {"a": {"weight": 19}, "b": {}}), {"a": OK, "b": LOW})
    assert result.status.phase is Phase.PROGRESSING
    assert result.status.last_judgement is not None
    assert result.status.last_judgement.evidence["score"] == 95.0


@pytest.mark.parametrize(
    ("doc", "problem"),
    [
        ({"pass": 70, "marginal": 80}, "expected marginal <= pass"),
        ({"pass": 120}, "less than or equal to 100"),
        ({"passing": 90}, "Extra inputs"),
    ],
)
def test_invalid_score_sections_are_refused(doc: dict[str, Any], problem: str) -> None:
    with pytest.raises(ValidationError, match=problem):
        ScoreSpec.model_validate(doc)


def test_negative_metric_weights_are_refused() -> None:
    with pytest.raises(ValidationError, match="greater than or equal to 0"):
        spec({}, {"a": {"weight": -1}})
