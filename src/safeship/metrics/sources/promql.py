"""The `promql` metrics source: analysis queries on the embedded engine over the scraped store.

Where it sits: the scraper fills the `SeriesStore`; this source answers the reconciler's
`measure` with the shared PromQL of `query.py`, evaluated in-process.
"""

from __future__ import annotations

from safeship.core.clock import Clock
from safeship.metrics.promql import Engine, PromQLError, Scalar, Vector
from safeship.metrics.sources.query import QueryMetricsSource, Sample, SourceError


class EngineQuerier:
    """The embedded engine over the scraped SeriesStore."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    async def instant(self, expr: str, t: float) -> list[Sample]:
        try:
            result = self.engine.instant(expr, t)
        except PromQLError as exc:
            raise SourceError(f"query {expr!r}: {exc}") from exc
        if isinstance(result, Scalar):
            return [({}, result.value)]
        if isinstance(result, Vector):
            return [(dict(labels), value) for labels, value in result.samples()]
        raise SourceError(f"query {expr!r}: expected an instant vector or a scalar")


class PromQLMetricsSource(QueryMetricsSource):
    """Analysis through the embedded store (fed by the scraper)."""

    def __init__(self, engine: Engine, *, service: str, clock: Clock) -> None:
        super().__init__(EngineQuerier(engine), service=service, clock=clock)
