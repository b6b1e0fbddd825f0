"""The `simulated` metrics source: another source that the simulator can take down.

Where it sits: in `safeship simulate` between the reconciler and the router source; a
`metrics-down` fault makes every measurement inconclusive for a window of virtual time.
"""

from __future__ import annotations

from safeship.analysis.measurement import Measurement
from safeship.config.models import MetricSpec
from safeship.core.clock import Clock
from safeship.fleet.simulated import FleetModel
from safeship.metrics.sources.base import MetricsSource


class SimulatedMetrics:
    """A metrics source over another one that can be 'down' for a window of virtual time."""

    def __init__(
        self, inner: MetricsSource, *, model: FleetModel, clock: Clock, start: float
    ) -> None:
        self.inner, self.model, self.clock, self.start = inner, model, clock, start

    async def measure(
        self, metric: MetricSpec, *, version: str, window: float, since: float | None = None
    ) -> Measurement:
        down = self.model.metrics_down
        elapsed = self.clock.now() - self.start
        if down is not None and down[0] <= elapsed < down[1]:
            return Measurement(None, 0, window, error="metrics source down (simulated)")
        return await self.inner.measure(metric, version=version, window=window, since=since)
