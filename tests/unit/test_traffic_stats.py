"""The embedded router's counters and how Prometheus and analysis see them."""

from __future__ import annotations

from prometheus_client import CollectorRegistry

from safeship.core.types import DURATION_BUCKETS
from safeship.traffic.proxy.stats import PoolStats, RouterCollector, RouterStats


def test_a_duration_equal_to_a_bound_counts_in_that_bound() -> None:
    stats = PoolStats(version="v1", pool="stable")
    stats.record(200, 0.005)
    stats.record(200, 0.0051)
    stats.record(500, 99.0)
    cumulative = stats.cumulative()
    assert len(cumulative) == len(DURATION_BUCKETS) + 1
    assert cumulative[DURATION_BUCKETS.index(0.005)] == 1
    assert cumulative[DURATION_BUCKETS.index(0.01)] == 2
    assert cumulative[-2] == 2 and cumulative[-1] == 3  # only +Inf holds 99 s
    assert stats.codes == {200: 2, 500: 1}


def test_counters_per_version_sum_pools_and_count_5xx_as_errors() -> None:
    stats = RouterStats("web")
    stats.for_(version="v2", pool="canary").record(200, 0.01)
    stats.for_(version="v2", pool="canary").record(502, 0.02)
    stats.for_(version="v2", pool="stable").record(503, 0.03)
    stats.for_(version="v1", pool="stable").record(404, 0.04)
    counters = stats.by_version()
    assert counters["v2"].requests == 3 and counters["v2"].errors == 2
    assert counters["v1"].requests == 1 and counters["v1"].errors == 0
    assert counters["v2"].duration_buckets[-1] == 3
    assert abs(counters["v2"].duration_sum - 0.06) < 1e-9


def test_collector_exposes_requests_and_histogram_series() -> None:
    stats = RouterStats("web")
    stats.for_(version="v1", pool="stable").record(200, 0.002)
    stats.for_(version="v1", pool="stable").record(200, 0.3)
    stats.for_(version="v2", pool="canary").record(500, 0.002)
    registry = CollectorRegistry()
    registry.register(RouterCollector(stats))
    labels = {"service": "web", "pool": "stable", "version": "v1"}
    sample = registry.get_sample_value
    assert sample("safeship_router_requests_total", {**labels, "code": "200"}) == 2
    canary = {"service": "web", "pool": "canary", "version": "v2"}
    assert sample("safeship_router_requests_total", {**canary, "code": "500"}) == 1
    histogram = "safeship_router_request_duration_seconds"
    assert sample(f"{histogram}_count", labels) == 2
    assert sample(f"{histogram}_bucket", {**labels, "le": "0.0025"}) == 1
    assert sample(f"{histogram}_bucket", {**labels, "le": "0.3"}) == 2
    assert sample(f"{histogram}_bucket", {**labels, "le": "+Inf"}) == 2
    assert abs((sample(f"{histogram}_sum", labels) or 0) - 0.302) < 1e-9
