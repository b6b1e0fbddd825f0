"""The Kayenta-style weighted score over per-metric verdicts."""

from __future__ import annotations

import pytest

from safeship.analysis.score import MARGINAL_REASON, ScoredMetric, judge_score
from safeship.analysis.verdict import Outcome, Verdict

F, P, INC = Outcome.FAIL, Outcome.PASS, Outcome.INCONCLUSIVE


def _metrics(*rows: tuple[Outcome, float]) -> list[ScoredMetric]:
    return [ScoredMetric(Verdict(o, f"m{i}", str(o)), weight=w) for i, (o, w) in enumerate(rows)]


@pytest.mark.parametrize(
    ("rows", "count_inconclusive", "expected", "score"),
    [
        ([(P, 1), (P, 1)], False, P, 100.0),
        ([(P, 19), (F, 1)], False, P, 95.0),  # exactly the pass threshold
        ([(P, 8), (F, 2)], False, INC, 80.0),  # marginal: a person decides
        ([(P, 3), (F, 1)], False, INC, 75.0),  # exactly the marginal threshold
        ([(P, 1), (F, 1)], False, F, 50.0),
        ([(P, 1), (INC, 1)], False, P, 100.0),  # inconclusive left out
        ([(P, 1), (INC, 1)], True, F, 50.0),  # ... or counted as not passed
        ([(INC, 1), (INC, 1)], False, INC, None),  # nothing judged is never a pass
        ([], False, INC, None),
        ([(P, 0), (F, 0)], False, INC, None),  # no weight at all
    ],
)
def test_weighted_score(
    rows: list[tuple[Outcome, float]],
    count_inconclusive: bool,
    expected: Outcome,
    score: float | None,
) -> None:
    verdict = judge_score(_metrics(*rows), count_inconclusive=count_inconclusive)
    assert verdict.outcome is expected, verdict.reason
    assert verdict.evidence["score"] == (score if score is None else pytest.approx(score))


def test_marginal_score_pauses_for_a_person() -> None:
    verdict = judge_score(_metrics((P, 8), (F, 2)))
    assert verdict.reason.startswith(MARGINAL_REASON)
    assert verdict.evidence["metrics"]["m1"]["outcome"] == "fail"


def test_failing_critical_metric_fails_whatever_the_score() -> None:
    metrics = [
        *_metrics((P, 99)),
        ScoredMetric(Verdict(F, "errors", "10% errors"), weight=1, critical=True),
    ]
    verdict = judge_score(metrics)
    assert verdict.outcome is F
    assert "critical metric failed: errors" in verdict.reason


def test_score_refuses_thresholds_out_of_order() -> None:
    with pytest.raises(ValueError):
        judge_score([], pass_threshold=70, marginal_threshold=80)
