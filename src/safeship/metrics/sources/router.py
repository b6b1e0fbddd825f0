"""The `router` metrics source: the built-in metrics from a Router's own cumulative counters.

Where it sits: no scrape and no store in between — `safeship simulate` measures the simulated
router this way (the reconciler asks, the router's `counters()` answer).

Every call snapshots the counters; a window's value is the difference between now and the
newest snapshot at least `window` old (or the oldest one kept), like `increase()` would be.
With `since` it is the difference from the oldest snapshot taken at or after `since`, so a
cumulative (sequential) judgement never counts a request from before its analysis or the
last traffic change. A `compare` metric's baseline is the stable pool's version (the
counters are per version: a fresh baseline pool of the same version is counted with it).
`query` metrics need a PromQL source.
"""

from __future__ import annotations

import bisect
import math
from dataclasses import dataclass, replace

from safeship.analysis.judge import Observed
from safeship.analysis.measurement import Measurement
from safeship.analysis.samples import Counts, Histogram
from safeship.config.models import MetricSpec
from safeship.core.clock import Clock
from safeship.core.types import DURATION_BUCKETS, VersionCounters
from safeship.metrics.promql.functions import bucket_quantile
from safeship.traffic.router import Router


@dataclass(frozen=True)
class _Snapshot:
    at: float
    counters: dict[str, VersionCounters]


class RouterMetricsSource:
    """A `MetricsSource` over `router.counters()`, keeping `keep_s` of snapshots."""

    def __init__(self, router: Router, clock: Clock, *, keep_s: float = 3600.0) -> None:
        self.router, self.clock, self.keep_s = router, clock, keep_s
        self._snapshots: list[_Snapshot] = []
        self._take()

    async def measure(
        self, metric: MetricSpec, *, version: str, window: float, since: float | None = None
    ) -> Measurement:
        if metric.builtin is None:
            return Measurement(
                None, 0, window, error="the router source has no PromQL: builtins only"
            )
        now = self._take()
        base = self._base(now.at - window) if since is None else self._after(since)
        canary = _observe(metric.builtin, now, base, version)
        if metric.compare is None:
            return canary
        stable = sorted({r.version for r in self.router.current().stable})
        if len(stable) != 1:
            return Measurement(None, 0, window, error="no single stable version to compare with")
        return replace(canary, baseline=_observe(metric.builtin, now, base, stable[0]))

    def _take(self) -> _Snapshot:
        snapshot = _Snapshot(self.clock.now(), self.router.counters())
        cutoff = snapshot.at - self.keep_s
        if self._snapshots and self._snapshots[0].at < cutoff:
            self._snapshots = [s for s in self._snapshots if s.at >= cutoff]
        self._snapshots.append(snapshot)
        return snapshot

    def _base(self, start: float) -> _Snapshot:
        times = [s.at for s in self._snapshots]
        index = bisect.bisect_right(times, start) - 1
        return self._snapshots[max(index, 0)]

    def _after(self, since: float) -> _Snapshot:
        times = [s.at for s in self._snapshots]
        return self._snapshots[min(bisect.bisect_left(times, since), len(times) - 1)]


def _observe(builtin: str, now: _Snapshot, base: _Snapshot, version: str) -> Observed:
    """One version's built-in value, counts and latency histogram between two snapshots."""
    delta = _delta(now.counters.get(version), base.counters.get(version))
    span = max(now.at - base.at, 1e-9)
    if builtin == "request-success-rate":
        value = 1 - delta.errors / delta.requests if delta.requests else None
    elif builtin == "request-duration-p99":
        value = _quantile(0.99, delta.duration_buckets) * 1000 if delta.requests else None
    else:
        value = delta.requests / span
    return Observed(
        value,
        delta.requests,
        span,
        counts=Counts(delta.requests, min(delta.errors, delta.requests)),
        histogram=_histogram(delta),
    )


def _histogram(delta: VersionCounters) -> Histogram:
    finite = delta.duration_buckets[: len(DURATION_BUCKETS)]
    cumulative = tuple(finite) if finite else (0,) * len(DURATION_BUCKETS)
    return Histogram(DURATION_BUCKETS, cumulative, delta.requests)


def _delta(new: VersionCounters | None, old: VersionCounters | None) -> VersionCounters:
    new = new or VersionCounters()
    old = old or VersionCounters()
    buckets = [
        n - (old.duration_buckets[i] if i < len(old.duration_buckets) else 0)
        for i, n in enumerate(new.duration_buckets)
    ]
    return VersionCounters(
        requests=new.requests - old.requests,
        errors=new.errors - old.errors,
        duration_buckets=buckets,
        duration_sum=new.duration_sum - old.duration_sum,
    )


def _quantile(q: float, cumulative: list[int]) -> float:
    """Prometheus' histogram_quantile over the router's cumulative latency buckets."""
    bounds = [*DURATION_BUCKETS, math.inf][: len(cumulative)]
    return bucket_quantile(q, [(b, float(c)) for b, c in zip(bounds, cumulative, strict=True)])
