"""The MetricsSource protocol: what the reconciler asks for each metric of an analysis tick.

Where it sits: between the signals (metric store, Prometheus, router counters) and the pure
judges. A source returns a `Measurement`; when it cannot measure, it sets `error` (the
judges call that inconclusive) rather than raising.
"""

from __future__ import annotations

from typing import Protocol

from safeship.analysis.measurement import Measurement
from safeship.config.models import MetricSpec


class MetricsSource(Protocol):
    """Where the analysis numbers come from (the router's counters, PromQL, Prometheus)."""

    async def measure(
        self, metric: MetricSpec, *, version: str, window: float, since: float | None = None
    ) -> Measurement:
        """`version`'s measurement over the last `window` seconds; with `since`, exactly the
        data from that time on (counts accumulated since the analysis, or the last traffic
        change, started; `window` is then now - since)."""
        ...
