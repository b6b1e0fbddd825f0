"""Too little data is never a pass: every judge and metric kind, on an idle canary (no
requests) and a nearly idle one (below its floor), is inconclusive or fails, never passes."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from typing import Any

import pytest

from safeship.analysis.judge import Observed, judge_metrics
from safeship.analysis.samples import Counts, Histogram
from safeship.analysis.verdict import Outcome
from safeship.config.models import MetricSpec, RolloutSpec, ScoreSpec
from safeship.core.labels import NAME
from safeship.metrics.promql import Engine
from safeship.metrics.sources.promql import PromQLMetricsSource
from safeship.metrics.store import SeriesStore
from safeship.testing import FakeClock, FleetModel
from safeship.wiring.faults import parse_faults
from safeship.wiring.simulate import simulate

BOUNDS = (0.05, 0.1, 0.25)
LOW_BAR = ScoreSpec.model_validate({"pass": 50, "marginal": 25})
ERROR_RATIO = 'sum(rate(x_errors{version="{{version}}"}[{{window}}]))'


def side(requests: int, errors: int = 0) -> Observed:
    """One pool's measurement: healthy latency, `errors` 5xx, values as a source gives them."""
    fast = round(requests * 0.9)
    histogram = Histogram(BOUNDS, (fast, requests, requests), requests)
    ratio = errors / requests if requests else None
    return Observed(
        None if ratio is None else 1 - ratio,
        requests,
        30.0,
        values=(0.0,),  # a query over a quiet pool still answers 0, not "no data"
        counts=Counts(requests, errors),
        histogram=histogram,
    )


def canary(requests: int, *, baseline: int = 2_000) -> Observed:
    """The canary's side, no errors (any built-in's value 1.0) when it served anything, and its
    baseline's with 0.5 % errors."""
    value = 1.0 if requests else None
    return replace(side(requests), value=value, baseline=side(baseline, errors=baseline // 200))


KINDS: dict[str, dict[str, Any]] = {
    "builtin success rate": {"builtin": "request-success-rate", "min": 0.99},
    "builtin p99": {"builtin": "request-duration-p99", "max": 100},
    "builtin rate": {"builtin": "request-rate", "min": 0},
    "query failIf": {"query": ERROR_RATIO, "failIf": "result > 0.01"},
    "query successIf": {"query": ERROR_RATIO, "successIf": "result <= 0.01"},
    "compare relative (builtin)": {
        "builtin": "request-success-rate",
        "compare": {"test": "relative"},
    },
    "compare relative (query)": {"query": ERROR_RATIO, "compare": {"test": "relative"}},
    "compare proportions": {
        "builtin": "request-success-rate",
        "compare": {"test": "proportions"},
    },
    "compare mannWhitney": {"builtin": "request-duration-p99", "compare": {"test": "mannWhitney"}},
    "compare sequential errors": {
        "builtin": "request-success-rate",
        "compare": {"test": "sequential"},
    },
    "compare sequential latency": {
        "builtin": "request-duration-p99",
        "compare": {"test": "sequential"},
    },
}
DATA = {
    "idle canary": canary(0),
    "nearly idle canary": canary(5),
    "nearly idle baseline": canary(2_000, baseline=5),
}


# A nearly idle baseline only matters to the kinds that compare with one.
CASES = [
    (kind, data)
    for kind in KINDS
    for data in DATA
    if data != "nearly idle baseline" or "compare" in KINDS[kind]
]


@pytest.mark.parametrize(("kind", "data"), CASES, ids=str)
@pytest.mark.parametrize("score", [None, LOW_BAR], ids=["any", "score"])
def test_too_little_data_is_never_a_pass(kind: str, data: str, score: ScoreSpec | None) -> None:
    metric = MetricSpec.model_validate({"name": "m", "minSamples": 20, **KINDS[kind]})
    verdict = judge_metrics([metric], {"m": DATA[data]}, score=score)
    assert verdict.outcome is not Outcome.PASS, verdict.reason


def test_the_same_metrics_pass_with_enough_data() -> None:
    """The table above is not vacuous: each kind passes a busy, healthy canary."""
    for kind, doc in KINDS.items():
        metric = MetricSpec.model_validate({"name": "m", "minSamples": 20, **doc})
        verdict = judge_metrics([metric], {"m": canary(2_000)})
        assert verdict.outcome is Outcome.PASS, (kind, verdict.reason)


def test_a_score_does_not_pass_while_a_critical_metric_has_no_data() -> None:
    busy = MetricSpec.model_validate({"name": "busy", "builtin": "request-rate", "min": 0})
    critical = MetricSpec.model_validate(
        {"name": "errors", "query": ERROR_RATIO, "failIf": "result > 0.01", "critical": True}
    )
    measured = {"busy": canary(2_000), "errors": canary(3)}
    verdict = judge_metrics([busy, critical], measured, score=LOW_BAR)
    assert verdict.outcome is Outcome.INCONCLUSIVE
    assert "critical metric without data: errors" in verdict.reason


def _store(requests_per_s: float, *, seconds: int = 60) -> SeriesStore:
    """The router's requests and an app's own error series, as scraping would store them."""
    store = SeriesStore()
    start = FakeClock().now() - seconds
    for step in range(seconds + 1):
        t_ms = round((start + step) * 1000)
        labels = {"service": "web", "pool": "canary", "version": "v2", "code": "200"}
        store.append(
            {NAME: "safeship_router_requests_total", **labels}, t_ms, requests_per_s * step
        )
        store.append({NAME: "x_errors", "version": "v2"}, t_ms, 0.0)
        store.append({NAME: "x_work_total", "version": "v2"}, t_ms, 10.0 * step)
    return store


@pytest.mark.parametrize(
    ("rate", "samples_query", "samples", "outcome"),
    [
        (0.0, None, 0, Outcome.INCONCLUSIVE),  # idle: the query answers 0 errors, on nothing
        (0.1, None, 3, Outcome.INCONCLUSIVE),  # nearly idle: 3 requests in 30 s
        (10.0, None, 300, Outcome.PASS),
        (0.0, 'sum(increase(x_work_total{version="{{version}}"}[{{window}}]))', 300, Outcome.PASS),
    ],
)
def test_a_query_stands_on_the_requests_or_samples_behind_it(
    rate: float, samples_query: str | None, samples: int, outcome: Outcome
) -> None:
    doc = {"name": "m", "query": ERROR_RATIO, "failIf": "result > 0.01", "minSamples": 20}
    metric = MetricSpec.model_validate(doc | {"samplesQuery": samples_query})
    source = PromQLMetricsSource(Engine(_store(rate)), service="web", clock=FakeClock())
    measured = asyncio.run(source.measure(metric, version="v2", window=30.0))
    assert measured.samples == pytest.approx(samples, abs=1)
    assert judge_metrics([metric], {"m": measured}).outcome is outcome


def test_samples_query_belongs_to_a_query() -> None:
    with pytest.raises(ValueError, match="samplesQuery"):
        MetricSpec.model_validate(
            {"name": "m", "builtin": "request-rate", "min": 1, "samplesQuery": "up"}
        )


FLOWN = {k: v for k, v in KINDS.items() if "query" not in k}  # the router source: built-ins
WORLDS = {
    "idle": ([], FleetModel(request_rate=0.0)),
    "nearly idle": ([], FleetModel(request_rate=1.0)),  # 10 % of it to the canary
    "metrics down": (["metrics-down"], FleetModel()),
}


@pytest.mark.parametrize("world", WORLDS, ids=str)
@pytest.mark.parametrize("kind", FLOWN, ids=str)
def test_a_flight_without_enough_data_pauses_and_says_why(kind: str, world: str) -> None:
    """Through the real reconciler and planner on the simulated fleet and router."""
    faults, model = WORLDS[world]
    spec = RolloutSpec.model_validate(
        {
            "service": {"name": "web", "command": ["serve", "{port}"], "stable": "v1"},
            "fleet": {"replicas": 4},
            "analysis": {"metrics": [{"name": "m", "minSamples": 20, **FLOWN[kind]}]},
            "strategy": {"canary": {"steps": [{"setWeight": 10}, {"analysis": {"count": 3}}]}},
        }
    )
    model = parse_faults(faults, model)
    flight = asyncio.run(simulate(spec, version="v2", targets=4, model=model))
    assert (flight.verdict, flight.phase) == ("pause", "Paused"), flight.reason
    expected = "metrics source down" if world == "metrics down" else "need"
    assert flight.reason.startswith("analysis inconclusive") and expected in flight.reason
