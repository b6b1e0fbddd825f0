"""The `simulated` router: turns virtual seconds of traffic into per-version counters.

Beside the simulated fleet (`fleet.simulated`), it gives each version its requests, errors
and latency histogram from that version's behaviour in the `FleetModel`, so the built-in
judges and the router metrics source work unchanged in `safeship simulate`.
"""

from __future__ import annotations

import itertools
import math
from collections import Counter

import numpy as np

from safeship.core.clock import Clock
from safeship.core.types import DURATION_BUCKETS, TrafficSplit, VersionCounters
from safeship.fleet.simulated import FleetModel, VersionBehaviour


class SimulatedRouter:
    """An in-process router: turns virtual seconds of traffic into per-version counters."""

    def __init__(self, *, model: FleetModel, clock: Clock, rng: np.random.Generator) -> None:
        self.model, self.clock, self.rng = model, clock, rng
        self._split = TrafficSplit(stable=())
        self._shares: dict[str, float] = {}
        self._counters: dict[str, VersionCounters] = {}
        self._since = clock.now()

    async def apply(self, split: TrafficSplit) -> None:
        self._accrue()
        self._split = split
        self._shares = version_shares(split)

    def current(self) -> TrafficSplit:
        return self._split

    def counters(self) -> dict[str, VersionCounters]:
        self._accrue()
        return {v: _copy(c) for v, c in self._counters.items()}

    def _accrue(self) -> None:
        now = self.clock.now()
        elapsed, self._since = now - self._since, now
        if elapsed <= 0:
            return
        for version, share in self._shares.items():
            requests = int(self.rng.poisson(self.model.request_rate * share * elapsed))
            if requests:
                self._serve(version, requests)

    def _serve(self, version: str, requests: int) -> None:
        behaviour = self.model.behaviour(version)
        counters = self._counters.setdefault(
            version, VersionCounters(duration_buckets=[0] * (len(DURATION_BUCKETS) + 1))
        )
        counters.requests += requests
        counters.errors += int(self.rng.binomial(requests, min(1.0, behaviour.error_ratio)))
        spread = self.rng.multinomial(requests, _bucket_probabilities(behaviour))
        cumulative = np.cumsum(spread).tolist()
        counters.duration_buckets = [
            a + b for a, b in zip(counters.duration_buckets, cumulative, strict=True)
        ]
        counters.duration_sum += requests * behaviour.latency_ms / 1000


def version_shares(split: TrafficSplit) -> dict[str, float]:
    """Fraction of all requests each version gets: pools by weight, evenly inside a pool."""
    weight = split.canary_weight / 100 if split.canary else 0.0
    baseline = split.baseline_weight / 100 if split.baseline else 0.0
    shares: dict[str, float] = {}
    pools = (
        (split.stable, 1 - weight - baseline),
        (split.canary, weight),
        (split.baseline, baseline),
    )
    for pool, share in pools:
        for version, count in Counter(r.version for r in pool).items():
            shares[version] = shares.get(version, 0.0) + share * count / len(pool)
    return {v: s for v, s in shares.items() if s > 0}


def _bucket_probabilities(behaviour: VersionBehaviour) -> list[float]:
    """P(latency in each histogram bucket) for a log-normal latency; the last is +Inf."""
    mu, sigma = math.log(max(behaviour.latency_ms, 1e-3) / 1000), behaviour.latency_spread
    scale = sigma * math.sqrt(2)
    cdf = [0.5 * (1 + math.erf((math.log(b) - mu) / scale)) for b in DURATION_BUCKETS]
    edges = [0.0, *cdf, 1.0]
    return [max(0.0, hi - lo) for lo, hi in itertools.pairwise(edges)]


def _copy(counters: VersionCounters) -> VersionCounters:
    return VersionCounters(
        counters.requests, counters.errors, list(counters.duration_buckets), counters.duration_sum
    )
