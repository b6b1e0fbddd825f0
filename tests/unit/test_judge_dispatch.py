"""Dispatch of an analysis metric and its measurement to the right judge (pure)."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from safeship.analysis.judge import Observed, judge_metric, pseudo_samples
from safeship.analysis.measurement import Measurement
from safeship.analysis.samples import Counts, Histogram
from safeship.analysis.verdict import Outcome
from safeship.config.models import MetricSpec

P, F, N = Outcome.PASS, Outcome.FAIL, Outcome.INCONCLUSIVE
BOUNDS = (0.05, 0.1, 0.25, 0.5)
FAST = Histogram(BOUNDS, (900, 990, 1000, 1000), 1000)
SLOW = Histogram(BOUNDS, (100, 400, 950, 1000), 1000)


def metric(**spec: Any) -> MetricSpec:
    return MetricSpec.model_validate({"name": "m", **spec})


def seen(value: float | None = None, *, baseline: Observed | None = None, **kw: Any) -> Observed:
    samples = kw.pop("samples", 500)
    return Observed(value, samples, 10.0, baseline=baseline, **kw)


@pytest.mark.parametrize(
    ("spec", "measured", "expected"),
    [
        # PromQL query with failIf / successIf, judged per result value
        ({"query": "up", "failIf": "result < 1"}, seen(values=(1.0, 1.0)), P),
        ({"query": "up", "failIf": "result < 1"}, seen(values=(1.0, 0.0)), F),
        ({"query": "x", "successIf": "result >= 0.99"}, seen(values=(0.95,)), F),
        ({"query": "x", "successIf": "result >= 0.99"}, seen(values=()), N),
        # built-in thresholds
        ({"builtin": "request-success-rate", "min": 0.99}, seen(0.995), P),
        ({"builtin": "request-success-rate", "min": 0.99}, seen(0.9), F),
        ({"builtin": "request-duration-p99", "max": 100}, seen(150.0, samples=5), N),
        # relative to baseline: success rate may not drop by more than 1 %
        (
            {
                "builtin": "request-success-rate",
                "compare": {"test": "relative", "maxRegressionPct": 1},
            },
            seen(0.90, baseline=seen(0.999)),
            F,
        ),
        (
            {
                "builtin": "request-success-rate",
                "compare": {"test": "relative", "maxRegressionPct": 1},
            },
            seen(0.998, baseline=seen(0.999)),
            P,
        ),
        # error counts: two proportions and sequential
        (
            {"builtin": "request-success-rate", "compare": {"test": "proportions"}},
            seen(0.9, counts=Counts(1000, 100), baseline=seen(1.0, counts=Counts(4000, 4))),
            F,
        ),
        (
            {"builtin": "request-success-rate", "compare": {"test": "sequential"}},
            seen(0.9, counts=Counts(1000, 100), baseline=seen(1.0, counts=Counts(4000, 4))),
            F,
        ),
        (
            {"builtin": "request-success-rate", "compare": {"test": "sequential"}},
            seen(1.0, counts=Counts(1000, 1), baseline=seen(1.0, counts=Counts(4000, 4))),
            P,
        ),
        # latency histograms: Mann-Whitney on recovered samples and sequential
        (
            {"builtin": "request-duration-p99", "compare": {"test": "mannWhitney"}},
            seen(240.0, histogram=SLOW, baseline=seen(90.0, histogram=FAST)),
            F,
        ),
        (
            {"builtin": "request-duration-p99", "compare": {"test": "mannWhitney"}},
            seen(90.0, histogram=FAST, baseline=seen(90.0, histogram=FAST)),
            P,
        ),
        (
            {"builtin": "request-duration-p99", "compare": {"test": "sequential"}},
            seen(240.0, histogram=SLOW, baseline=seen(90.0, histogram=FAST)),
            F,
        ),
        # missing baseline or data is never a pass
        ({"builtin": "request-success-rate", "compare": {"test": "proportions"}}, seen(1.0), N),
        (
            {"builtin": "request-duration-p99", "compare": {"test": "mannWhitney"}},
            seen(1.0, baseline=seen(1.0)),
            N,
        ),
    ],
)
def test_each_metric_kind_reaches_its_judge(
    spec: dict[str, Any], measured: Observed, expected: Outcome
) -> None:
    assert judge_metric(metric(**spec), measured).outcome is expected


@pytest.mark.parametrize(
    "measured",
    [
        None,
        Measurement(None, 0, 10.0, error="metrics source down"),
        seen(1.0, baseline=Observed(None, 0, 10.0, error="query failed")),
    ],
)
def test_no_data_or_a_down_source_is_inconclusive(measured: Measurement | None) -> None:
    spec = metric(builtin="request-success-rate", compare={"test": "relative"})
    verdict = judge_metric(spec, measured)
    assert verdict.outcome is N


@pytest.mark.parametrize(
    ("spec", "problem"),
    [
        ({"builtin": "request-rate"}, "threshold"),
        ({"query": "up"}, "failIf"),
        ({"query": "up", "builtin": "request-rate", "min": 1}, "exactly one"),
        ({"query": "up", "failIf": "result <"}, "failIf"),
        ({"query": "up", "compare": {"test": "proportions"}}, "request-success-rate"),
        ({"builtin": "request-rate", "compare": {"test": "mannWhitney"}}, "request-duration-p99"),
    ],
)
def test_malformed_metrics_are_refused_by_the_config(spec: dict[str, Any], problem: str) -> None:
    with pytest.raises(ValidationError, match=problem):
        metric(**spec)


def test_pseudo_samples_keep_the_histogram_shape() -> None:
    samples = pseudo_samples(SLOW)
    assert samples.size == 1000
    assert (samples <= 0.05).sum() == 100  # the first bucket's midpoint
