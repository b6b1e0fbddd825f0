"""Dispatch: one analysis metric and what was measured for it → the judge that fits → a verdict.

Where it sits: a MetricsSource (metrics/sources/) queries at the edge and returns an
`Observed` (a Measurement carrying query values, counts, a histogram and the baseline's own
`Observed`); the planner calls `judge_metrics` once per measurement, purely: one verdict per
metric, combined "any failure fails" or, with `analysis.score`, by the Kayenta-style score.
Missing data, a failed query or a source that is down is INCONCLUSIVE: a rollout never
promotes blind. So is too little data: every metric kind has a floor, `minSamples` requests
(or samples, for a `query` with `samplesQuery`) behind the value, on both sides of a compare.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import partial

import numpy as np

from safeship.analysis.builtin import judge_builtin
from safeship.analysis.mannwhitney import judge_mann_whitney
from safeship.analysis.measurement import Measurement
from safeship.analysis.proportions import judge_proportions
from safeship.analysis.relative import Direction, judge_relative
from safeship.analysis.samples import Counts, FloatArray, Histogram
from safeship.analysis.score import ScoredMetric, judge_score
from safeship.analysis.sequential import judge_sequential_errors, judge_sequential_latency
from safeship.analysis.threshold import judge_threshold
from safeship.analysis.verdict import Outcome, Verdict, combine
from safeship.config.metrics import CompareSpec
from safeship.config.models import MetricSpec, ScoreSpec

MAX_PSEUDO_SAMPLES = 20_000  # Mann-Whitney on a histogram: enough resolution, bounded cost
# For a relative comparison, which way is worse when the spec does not say.
WORSE: dict[str | None, Direction] = {
    "request-success-rate": "decrease",
    "request-duration-p99": "increase",
    "request-rate": "decrease",
}


@dataclass(frozen=True)
class Observed(Measurement):
    """A measurement with everything a judge may need; what a source does not know stays empty."""

    values: tuple[float, ...] = ()  # one per result series of a query
    counts: Counts | None = None  # requests and errors in the window
    histogram: Histogram | None = None  # latency, cumulative, in seconds
    baseline: Observed | None = None  # the stable pool's own measurement


def judge_metrics(
    metrics: Sequence[MetricSpec],
    measurements: Mapping[str, Measurement],
    *,
    score: ScoreSpec | None = None,
) -> Verdict:
    """One measurement's verdict: each metric judged, then combined (pure).

    Without `score` any failed metric fails it. With `score` it is the weighted score of the
    metric verdicts: >= pass passes, >= marginal is inconclusive (MARGINAL_REASON: a person
    decides), below fails; a failed `critical` metric fails whatever the score.
    """
    verdicts = [judge_metric(m, measurements.get(m.name)) for m in metrics]
    if score is None:
        return combine(verdicts)
    scored = [
        ScoredMetric(v, weight=m.weight, critical=m.critical)
        for m, v in zip(metrics, verdicts, strict=True)
    ]
    scoring = partial(
        judge_score, pass_threshold=score.pass_, marginal_threshold=score.marginal, name="analysis"
    )
    # Pass only if it passes with missing metrics counted as failed; fail only if the metrics
    # that have data fail on their own. Anything between waits for data or for a person.
    strict = scoring(scored, count_inconclusive=True)
    if strict.outcome is Outcome.PASS:
        return strict
    lenient = scoring(scored)
    if lenient.outcome is not Outcome.PASS:
        return lenient
    return Verdict(
        Outcome.INCONCLUSIVE, "analysis", f"missing data: {strict.reason}", strict.evidence
    )


def judge_metric(metric: MetricSpec, measured: Measurement | None) -> Verdict:
    """The verdict on one metric for one measurement (pure)."""
    if measured is None or measured.error:
        why = measured.error if measured else "no measurement was taken"
        return Verdict(Outcome.INCONCLUSIVE, metric.name, f"no data: {why}", {"error": why})
    if metric.compare is not None:
        return _compare(metric, metric.compare, measured)
    if metric.query is not None:
        if short := _below_floor(metric, measured):
            return short
        values = measured.values if isinstance(measured, Observed) else _single(measured)
        return judge_threshold(
            metric.name, values, fail_if=metric.fail_if, success_if=metric.success_if
        )
    return judge_builtin(metric, measured)


def _below_floor(metric: MetricSpec, *measured: Measurement) -> Verdict | None:
    """Inconclusive when any side has fewer samples (requests) than the metric's floor."""
    samples = [m.samples for m in measured]
    if min(samples) >= metric.min_samples:
        return None
    counts = " / ".join(str(n) for n in samples)
    return _inconclusive(metric, f"{counts} samples, {metric.min_samples} needed")


def _single(measured: Measurement) -> tuple[float, ...]:
    return () if measured.value is None else (measured.value,)


def _compare(metric: MetricSpec, spec: CompareSpec, canary: Measurement) -> Verdict:
    baseline = canary.baseline if isinstance(canary, Observed) else None
    if not isinstance(canary, Observed) or baseline is None:
        return _inconclusive(metric, "no baseline measurement")
    if baseline.error:
        return _inconclusive(metric, f"baseline: {baseline.error}")
    if spec.test == "relative":
        return _relative(metric, spec, canary, baseline)
    if spec.test == "proportions" or (
        spec.test == "sequential" and metric.builtin == "request-success-rate"
    ):
        return _on_counts(metric, spec, canary, baseline)
    return _on_histograms(metric, spec, canary, baseline)


def _relative(metric: MetricSpec, spec: CompareSpec, canary: Observed, base: Observed) -> Verdict:
    direction = spec.direction or WORSE.get(metric.builtin, "increase")
    if short := _below_floor(metric, canary, base):
        return short
    return judge_relative(
        metric.name,
        _first(canary),
        _first(base),
        direction=direction,
        max_regression_pct=spec.max_regression_pct,
        abs_tolerance=spec.abs_tolerance,
    )


def _first(measured: Observed) -> float | None:
    if measured.value is not None:
        return measured.value
    return measured.values[0] if len(measured.values) == 1 else None


def _on_counts(metric: MetricSpec, spec: CompareSpec, canary: Observed, base: Observed) -> Verdict:
    if canary.counts is None or base.counts is None:
        return _inconclusive(metric, "no request counts")
    if spec.test == "proportions":
        return judge_proportions(
            metric.name,
            canary.counts,
            base.counts,
            confidence=spec.confidence,
            allowed_abs_increase=spec.abs_tolerance,
            allowed_rel_increase_pct=spec.allowed_increase_pct,
            min_samples=metric.min_samples,
        )
    return judge_sequential_errors(
        metric.name, canary.counts, base.counts, alpha=spec.alpha, min_requests=metric.min_samples
    )


def _on_histograms(
    metric: MetricSpec, spec: CompareSpec, canary: Observed, base: Observed
) -> Verdict:
    if canary.histogram is None or base.histogram is None:
        return _inconclusive(metric, "no latency histogram")
    if spec.test == "sequential":
        return judge_sequential_latency(
            metric.name,
            canary.histogram,
            base.histogram,
            alpha=spec.alpha,
            allowed_increase_pct=spec.allowed_increase_pct,
            min_requests=metric.min_samples,
        )
    return judge_mann_whitney(
        metric.name,
        pseudo_samples(canary.histogram),
        pseudo_samples(base.histogram),
        confidence=spec.confidence,
        allowed_increase_pct=spec.allowed_increase_pct,
        min_samples=metric.min_samples,
    )


def pseudo_samples(histogram: Histogram, *, limit: int = MAX_PSEUDO_SAMPLES) -> FloatArray:
    """Latency samples recovered from a histogram: each bucket's count at its midpoint
    (scaled down past `limit`); the +Inf bucket sits at twice the last bound."""
    bounds = np.asarray(histogram.bounds, dtype=np.float64)
    counts = np.diff(np.asarray((0, *histogram.cumulative, histogram.count), dtype=np.float64))
    lower = np.concatenate(([0.0], bounds))
    upper = np.concatenate((bounds, [bounds[-1] * 2 if bounds.size else 1.0]))
    scale = min(1.0, limit / histogram.count) if histogram.count else 1.0
    repeats = np.rint(np.clip(counts, 0, None) * scale).astype(np.int64)
    return np.repeat((lower + upper) / 2, repeats)


def _inconclusive(metric: MetricSpec, why: str) -> Verdict:
    return Verdict(Outcome.INCONCLUSIVE, metric.name, why, {"reason": why})
