"""The built-in judges: thresholds on the router's success rate, p99 latency and request rate.

As in Flagger, a metric passes when its value lies within [min, max]. Too few samples,
no data or a failed measurement is inconclusive, never a pass.
"""

from __future__ import annotations

from safeship.analysis.measurement import Measurement
from safeship.analysis.verdict import Outcome, Verdict
from safeship.config.models import MetricSpec

UNITS = {"request-success-rate": "", "request-duration-p99": "ms", "request-rate": "req/s"}


def judge_builtin(metric: MetricSpec, measured: Measurement | None) -> Verdict:
    evidence = _evidence(metric, measured)
    if measured is None or measured.error:
        why = measured.error if measured else "no measurement was taken"
        return Verdict(Outcome.INCONCLUSIVE, metric.name, f"no data: {why}", evidence)
    if measured.samples < metric.min_samples or measured.value is None:
        why = f"{measured.samples} samples, {metric.min_samples} needed"
        return Verdict(Outcome.INCONCLUSIVE, metric.name, why, evidence)
    value, unit = measured.value, UNITS.get(metric.builtin or "", "")
    if metric.min is not None and value < metric.min:
        return Verdict(
            Outcome.FAIL, metric.name, f"{value:.4g}{unit} < min {metric.min:g}", evidence
        )
    if metric.max is not None and value > metric.max:
        return Verdict(
            Outcome.FAIL, metric.name, f"{value:.4g}{unit} > max {metric.max:g}", evidence
        )
    return Verdict(Outcome.PASS, metric.name, f"{value:.4g}{unit} within bounds", evidence)


def _evidence(metric: MetricSpec, measured: Measurement | None) -> dict[str, object]:
    evidence: dict[str, object] = {"metric": metric.builtin, "min": metric.min, "max": metric.max}
    if measured is not None:
        evidence |= {
            "value": measured.value,
            "samples": measured.samples,
            "window_s": round(measured.window_s, 3),
            "min_samples": metric.min_samples,
        }
    return evidence
