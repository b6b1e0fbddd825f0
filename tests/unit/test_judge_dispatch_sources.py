"""Analysis through PromQL over the embedded store: built-in templates, queries, baselines."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from safeship.analysis.judge import Observed, judge_metric
from safeship.analysis.verdict import Outcome
from safeship.config.models import MetricSpec
from safeship.core.labels import NAME
from safeship.metrics.promql import Engine
from safeship.metrics.sources.promql import PromQLMetricsSource
from safeship.metrics.sources.query import builtin_query, fill
from safeship.metrics.store import SeriesStore
from safeship.testing import FakeClock

BOUNDS = ("0.05", "0.1", "0.25", "+Inf")
# Per second: requests, errors (5xx), and the share of requests at or under each bound.
PROFILE = {
    ("v1", "stable"): (40, 0, (0.9, 0.99, 1.0, 1.0)),
    ("v2", "canary"): (10, 1, (0.1, 0.3, 0.95, 1.0)),
}


def _router_series(store: SeriesStore, start: float, seconds: int) -> None:
    """What scraping the router every second for `seconds` would have stored."""
    for step in range(seconds + 1):
        t_ms = round((start + step) * 1000)
        for (version, pool), (rate, errors, shares) in PROFILE.items():
            base = {"service": "demo", "pool": pool, "version": version}
            ok, bad = (rate - errors) * step, errors * step
            store.append({NAME: "safeship_router_requests_total", **base, "code": "200"}, t_ms, ok)
            store.append({NAME: "safeship_router_requests_total", **base, "code": "503"}, t_ms, bad)
            for le, share in zip(BOUNDS, shares, strict=True):
                name = "safeship_router_request_duration_seconds_bucket"
                store.append({NAME: name, **base, "le": le}, t_ms, rate * step * share)


def _measure(spec: dict[str, Any], version: str = "v2") -> tuple[MetricSpec, Observed]:
    clock = FakeClock()
    store = SeriesStore()
    _router_series(store, clock.now() - 60, 60)
    source = PromQLMetricsSource(Engine(store), service="demo", clock=clock)
    metric = MetricSpec.model_validate({"name": "m", **spec})
    measured = asyncio.run(source.measure(metric, version=version, window=30.0))
    assert isinstance(measured, Observed) or measured.error
    return metric, measured  # type: ignore[return-value]


def test_success_rate_is_non_5xx_over_all_requests_of_the_version() -> None:
    _, measured = _measure({"builtin": "request-success-rate", "min": 0.99})
    assert measured.value == pytest.approx(0.9)
    assert measured.samples == pytest.approx(300, abs=5)


def test_p99_comes_from_histogram_quantile_in_milliseconds() -> None:
    _, canary = _measure({"builtin": "request-duration-p99", "max": 100})
    _, stable = _measure({"builtin": "request-duration-p99", "max": 100}, version="v1")
    # 5 % of canary requests are slower than the last finite bound: Prometheus answers it.
    assert canary.value == pytest.approx(250.0)
    assert stable.value == pytest.approx(100.0)  # 99 % at or under 0.1 s


def test_request_rate_is_per_second() -> None:
    _, measured = _measure({"builtin": "request-rate", "min": 1})
    assert measured.value == pytest.approx(10.0)


@pytest.mark.parametrize(
    ("test", "builtin"),
    [
        ("proportions", "request-success-rate"),
        ("sequential", "request-success-rate"),
        ("relative", "request-success-rate"),
        ("mannWhitney", "request-duration-p99"),
        ("sequential", "request-duration-p99"),
    ],
)
def test_a_worse_canary_fails_against_the_stable_pool(test: str, builtin: str) -> None:
    compare = {"test": test, "maxRegressionPct": 5}
    metric, measured = _measure({"builtin": builtin, "compare": compare})
    assert measured.baseline is not None and measured.baseline.samples > 1000
    verdict = judge_metric(metric, measured)
    assert verdict.outcome is Outcome.FAIL, verdict.reason


def test_query_placeholders_are_filled_and_each_value_judged() -> None:
    query = (
        'sum by (code) (rate(safeship_router_requests_total{service="{{service}}",'
        'version="{{ version }}"}[{{window}}]))'
    )
    metric, measured = _measure({"query": query, "failIf": "result > 5"})
    assert sorted(measured.values) == pytest.approx([1.0, 9.0])
    assert judge_metric(metric, measured).outcome is Outcome.FAIL


def test_a_query_error_is_an_inconclusive_measurement() -> None:
    metric, measured = _measure({"query": "rate(up[5m]", "failIf": "result > 1"})
    assert measured.error and "query" in measured.error
    assert judge_metric(metric, measured).outcome is Outcome.INCONCLUSIVE


def test_a_version_without_traffic_is_no_data() -> None:
    metric, measured = _measure({"builtin": "request-success-rate", "min": 0.9}, version="v9")
    assert measured.value is None and measured.samples == 0
    assert judge_metric(metric, measured).outcome is Outcome.INCONCLUSIVE


def test_templates_read_like_flagger() -> None:
    assert fill("{{version}}-{{service}}", version="v2", service="s", window="1m") == "v2-s"
    assert fill('pool="{{ pool }}"', version="v1", service="s", window="1m", pool="baseline") == (
        'pool="baseline"'
    )
    expr = builtin_query("request-success-rate", selector='version="v2"', window="30s")
    assert expr == (
        'sum(rate(safeship_router_requests_total{version="v2",code!~"5.."}[30s]))'
        ' / sum(rate(safeship_router_requests_total{version="v2"}[30s]))'
    )
