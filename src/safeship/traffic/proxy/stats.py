"""Request counters of the embedded router: the signal canary analysis judges.

The hot path only bumps plain Python numbers in a `PoolStats` the backend already holds; the
Prometheus families are built on scrape by `RouterCollector`, so metrics cost nothing per
request beyond a dict increment and a bisect.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Iterator

from prometheus_client.core import CounterMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector

from safeship.core.types import DURATION_BUCKETS, VersionCounters

_BOUNDS = DURATION_BUCKETS


class PoolStats:
    """Counters of one (version, pool): answers per status code and a latency histogram."""

    __slots__ = ("buckets", "codes", "duration_sum", "pool", "version")

    def __init__(self, *, version: str, pool: str) -> None:
        self.version = version
        self.pool = pool
        self.codes: dict[int, int] = {}
        self.buckets = [0] * (len(_BOUNDS) + 1)  # per bucket, not cumulative; last is +Inf
        self.duration_sum = 0.0

    def record(self, code: int, seconds: float) -> None:
        codes = self.codes
        codes[code] = codes.get(code, 0) + 1
        # bisect_left: a value equal to a bound belongs to that bound's bucket (le semantics)
        self.buckets[bisect_left(_BOUNDS, seconds)] += 1
        self.duration_sum += seconds

    def cumulative(self) -> list[int]:
        total, out = 0, []
        for count in self.buckets:
            total += count
            out.append(total)
        return out


class RouterStats:
    """Every `PoolStats` of one router, created on first use per (version, pool)."""

    def __init__(self, service: str) -> None:
        self.service = service
        self._by_key: dict[tuple[str, str], PoolStats] = {}

    def for_(self, *, version: str, pool: str) -> PoolStats:
        key = (version, pool)
        stats = self._by_key.get(key)
        if stats is None:
            stats = self._by_key[key] = PoolStats(version=version, pool=pool)
        return stats

    def all(self) -> list[PoolStats]:
        return list(self._by_key.values())

    def by_version(self) -> dict[str, VersionCounters]:
        """Counters summed over pools; errors are 5xx answers (router-made ones included)."""
        out: dict[str, VersionCounters] = {}
        for stats in self.all():
            counters = out.setdefault(
                stats.version, VersionCounters(duration_buckets=[0] * (len(_BOUNDS) + 1))
            )
            counters.requests += sum(stats.codes.values())
            counters.errors += sum(n for code, n in stats.codes.items() if code >= 500)
            counters.duration_sum += stats.duration_sum
            for i, value in enumerate(stats.cumulative()):
                counters.duration_buckets[i] += value
        return out


class RouterCollector(Collector):
    """Exposes `RouterStats` as safeship_router_requests_total and _request_duration_seconds."""

    def __init__(self, stats: RouterStats) -> None:
        self._stats = stats

    def collect(self) -> Iterator[Metric]:
        labels = ["service", "pool", "version"]
        requests = CounterMetricFamily(
            "safeship_router_requests",
            "Requests answered by the router, by backend pool, version and status code.",
            labels=[*labels, "code"],
        )
        durations = HistogramMetricFamily(
            "safeship_router_request_duration_seconds",
            "Time from request received to response relayed, by pool and version.",
            labels=labels,
        )
        for stats in self._stats.all():
            base = [self._stats.service, stats.pool, stats.version]
            for code, count in sorted(stats.codes.items()):
                requests.add_metric([*base, str(code)], count)
            cumulative = stats.cumulative()
            buckets = [(_le(i), float(n)) for i, n in enumerate(cumulative)]
            durations.add_metric(base, buckets, stats.duration_sum)
        yield requests
        yield durations


def _le(index: int) -> str:
    return str(_BOUNDS[index]) if index < len(_BOUNDS) else "+Inf"
