"""Wiring of the signal path for a local stack: scraper + embedded store + MetricsSource.

Where it sits: it builds what the data flow's "scrape /metrics ─▶ metric store ─▶ analysis"
needs for `safeship run` and `demo`, and decides nothing. `local_signals` keeps the
scraper's targets in step with the router's metrics endpoints (one, or one per agent
worker) and the fleet's replicas and
hands out the MetricsSource the reconciler measures with (embedded PromQL, or a real
Prometheus when the spec says `metrics.source.prometheus`).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass

from safeship.config.metrics import MetricsSpec
from safeship.core.addresses import http_url
from safeship.core.clock import Clock
from safeship.core.errors import DeployError
from safeship.core.types import Replica
from safeship.metrics.promql import Engine
from safeship.metrics.scrape import Scraper
from safeship.metrics.sources.prometheus import PrometheusMetricsSource, http_client
from safeship.metrics.sources.promql import PromQLMetricsSource
from safeship.metrics.sources.query import QueryMetricsSource
from safeship.metrics.store import SeriesStore
from safeship.traffic.nop import NopRouter
from safeship.traffic.proxy.embedded import EmbeddedRouter

ROUTER_JOB = "safeship-router"


@dataclass
class Signals:
    """The pieces a running stack measures with; `scraper`/`store` are None with Prometheus."""

    source: QueryMetricsSource
    store: SeriesStore | None = None
    scraper: Scraper | None = None


@asynccontextmanager
async def local_signals(
    spec: MetricsSpec,
    *,
    service: str,
    clock: Clock,
    router_metrics_urls: Callable[[], Awaitable[list[str]]],
    replicas: Callable[[], Awaitable[list[Replica]]],
) -> AsyncIterator[Signals]:
    """Scrape the router and the replicas into an embedded store (or use Prometheus)."""
    if spec.source.prometheus is not None:
        async with http_client(spec.source.prometheus) as client:  # closed with us
            url = spec.source.prometheus.url
            yield Signals(PrometheusMetricsSource(url, service=service, clock=clock, client=client))
        return
    embedded = spec.source.embedded_or_default
    store = SeriesStore(retention=embedded.retention)
    scraper = Scraper(store, clock=clock)
    source = PromQLMetricsSource(Engine(store), service=service, clock=clock)

    async def follow() -> None:
        """Targets change as the router starts listening and replicas come and go."""
        while True:
            urls: list[tuple[str, dict[str, str]]] = [
                (url, {}) for url in await router_metrics_urls()
            ]
            scraper.set_urls(ROUTER_JOB, urls, interval=embedded.scrape_interval)
            scraper.set_urls(
                service, _replica_urls(await replicas()), interval=embedded.scrape_interval
            )
            await clock.sleep(embedded.scrape_interval)

    async with scraper:
        task = asyncio.get_running_loop().create_task(follow())
        try:
            yield Signals(source, store, scraper)
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task


def _replica_urls(replicas: list[Replica]) -> list[tuple[str, dict[str, str]]]:
    return [
        (f"{r.url}/metrics", {"replica": r.id, "version": r.version}) for r in replicas if r.healthy
    ]


def router_metrics_url(
    router: EmbeddedRouter | NopRouter, *, host: str
) -> Callable[[], Awaitable[list[str]]]:
    """The router's metrics endpoint once it listens (none before, and always for `none`)."""
    host = "127.0.0.1" if host in ("0.0.0.0", "") else host  # a wildcard bind answers locally

    async def url() -> list[str]:
        if isinstance(router, NopRouter):
            return []
        try:
            port = router.metrics_port
        except DeployError:
            return []
        return [http_url(host, port, "/metrics")]

    return url
