"""The `static` metrics source: fixed measurements per (metric, version), for tests.

Where it sits: in place of a real source under the reconciler, so a test decides what
analysis sees without a router, a scrape or a store (the test kit re-exports it).
"""

from __future__ import annotations

from collections.abc import Mapping

from safeship.analysis.measurement import Measurement
from safeship.config.models import MetricSpec


class StaticMetricsSource:
    """Answers `measurements[(metric name, version)]`; any other pair is inconclusive."""

    def __init__(self, measurements: Mapping[tuple[str, str], Measurement]) -> None:
        self.measurements = dict(measurements)

    async def measure(
        self, metric: MetricSpec, *, version: str, window: float, since: float | None = None
    ) -> Measurement:
        found = self.measurements.get((metric.name, version))
        if found is None:
            return Measurement(
                None, 0, window, error=f"no static value for {metric.name}@{version}"
            )
        return found
