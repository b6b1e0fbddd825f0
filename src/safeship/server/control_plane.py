"""Wiring of the signal path: store + scraper + engine (+ the app for `safeship serve`).

Where it sits: it builds what the data flow's "scrape /metrics ─▶ metric store ─▶ analysis"
needs and decides nothing. `local_signals` serves a local stack (`safeship run`, `demo`):
it keeps the scraper's targets in step with the router's metrics endpoint and the fleet's
replicas and hands out the MetricsSource the reconciler measures with (embedded PromQL,
or a real Prometheus when the spec says `metrics.source.prometheus`). `serve` runs the
control-plane app under uvicorn over a store fed by `scrape_configs`, with the rule
manager evaluating `rule_files` over that store.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass

import httpx
import uvicorn
from prometheus_client import CollectorRegistry, GCCollector, PlatformCollector, ProcessCollector

from safeship.alerting.manager import AlertMemory, RuleManager, load_groups
from safeship.config.metrics import ControlPlaneConfig, MetricsSpec
from safeship.core.clock import Clock
from safeship.core.durations import parse_duration
from safeship.core.errors import DeployError
from safeship.core.types import Replica
from safeship.metrics.promql import Engine
from safeship.metrics.retention import (
    HistoryReader,
    RetentionPolicy,
    RollupWriter,
    open_history,
)
from safeship.metrics.rollups import Rollup
from safeship.metrics.scrape import Scraper
from safeship.metrics.sources import (
    PrometheusMetricsSource,
    PromQLMetricsSource,
    QueryMetricsSource,
)
from safeship.metrics.store import SeriesStore
from safeship.store.engine import default_url
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
    router_metrics_url: Callable[[], str | None],
    replicas: Callable[[], Awaitable[list[Replica]]],
) -> AsyncIterator[Signals]:
    """Scrape the router and the replicas into an embedded store (or use Prometheus)."""
    if spec.source.prometheus is not None:
        async with httpx.AsyncClient(trust_env=False, timeout=10.0) as client:  # closed with us
            url = spec.source.prometheus
            yield Signals(PrometheusMetricsSource(url, service=service, clock=clock, client=client))
        return
    embedded = spec.source.embedded_or_default
    store = SeriesStore(retention=embedded.retention)
    scraper = Scraper(store, clock=clock)
    source = PromQLMetricsSource(Engine(store), service=service, clock=clock)

    async def follow() -> None:
        """Targets change as the router starts listening and replicas come and go."""
        while True:
            url = router_metrics_url()
            scraper.set_urls(
                ROUTER_JOB, [(url, {})] if url else [], interval=embedded.scrape_interval
            )
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


def router_metrics_url(router: EmbeddedRouter, *, host: str) -> Callable[[], str | None]:
    """The router's metrics endpoint once it listens (None before)."""
    host = "127.0.0.1" if host in ("0.0.0.0", "") else host  # a wildcard bind answers locally

    def url() -> str | None:
        try:
            port = router.metrics_port
        except DeployError:
            return None
        return f"http://{host}:{port}/metrics"

    return url


# -- safeship serve ------------------------------------------------------------------------
@dataclass
class ControlPlane:
    config: ControlPlaneConfig
    store: SeriesStore
    scraper: Scraper
    engine: Engine
    registry: CollectorRegistry


def build(config: ControlPlaneConfig, *, clock: Clock) -> ControlPlane:
    embedded = config.metrics.source.embedded_or_default
    store = SeriesStore(retention=embedded.retention)
    scraper = Scraper(store, clock=clock, configs=config.scrape_configs)
    registry = CollectorRegistry()
    ProcessCollector(registry=registry)
    PlatformCollector(registry=registry)
    GCCollector(registry=registry)
    return ControlPlane(config, store, scraper, Engine(store), registry)


async def serve(config: ControlPlaneConfig, *, clock: Clock, listen: str | None = None) -> None:
    """Run the control plane until cancelled (SIGINT/SIGTERM stop uvicorn)."""
    from safeship.server.app import create_app  # the app imports FastAPI; keep it at the edge

    plane = build(config, clock=clock)
    host, _, port = (listen or config.listen).rpartition(":")
    rules = rule_manager(plane, clock=clock)
    app = create_app(
        engine=plane.engine,
        store=plane.store,
        clock=clock,
        registry=plane.registry,
        ready=lambda: True,
        rules=rules,
        history=history_reader(config),
    )
    server = uvicorn.Server(
        uvicorn.Config(app, host=host, port=int(port), log_level="warning", lifespan="off")
    )
    loop = asyncio.get_running_loop()
    async with plane.scraper:
        tasks = [loop.create_task(_scrape_self(plane, server, host, port))]
        if config.history.enabled:
            tasks.append(loop.create_task(keep_history(plane, clock=clock)))
        if rules is not None:
            tasks.append(loop.create_task(rules.run()))
        try:
            await server.serve()
        finally:
            for task in tasks:
                task.cancel()
            if rules is not None:
                rules.close()


def rule_manager(plane: ControlPlane, *, clock: Clock) -> RuleManager | None:
    """The manager of `rule_files` with the alert state of the state database, or None.

    Like the rollups it runs on the event loop thread: rules read and write the same
    in-memory store the scraper appends to.
    """
    if not plane.config.rule_files:
        return None
    return RuleManager(
        load_groups(plane.config.rule_files),
        engine=plane.engine,
        store=plane.store,
        clock=clock,
        default_interval_s=plane.config.evaluation_interval,
        memory=AlertMemory.open(default_url()),
    )


def history_reader(config: ControlPlaneConfig) -> HistoryReader | None:
    """The rollup reader the API falls back to for data older than the store, or None."""
    history = config.history
    if not history.enabled:
        return None
    tiers = sorted(int(parse_duration(k)) for k in history.tiers)
    return HistoryReader(open_history(history.database or default_url()), resolutions_s=tiers)


async def keep_history(plane: ControlPlane, *, clock: Clock) -> None:
    """Roll finished buckets up into the state database and prune expired ones, forever.

    It runs on the event loop thread on purpose: the scraper appends to the same store, and
    a rollup of the last minute is cheap next to a scrape round (see bench/rollups.py).
    """
    history = plane.config.history
    embedded = plane.config.metrics.source.embedded_or_default
    policy = RetentionPolicy.parse(hot=f"{embedded.retention}s", tiers=history.tiers)
    writer = RollupWriter(open_history(history.database or default_url()))
    rollup = Rollup(plane.store, writer, clock=clock, resolutions_s=policy.resolutions_s)
    while True:
        rollup.run()
        writer.prune(policy, now_s=clock.now())
        await clock.sleep(rollup.due_in())


async def _scrape_self(plane: ControlPlane, server: uvicorn.Server, host: str, port: str) -> None:
    """safeship is a target of its own once it answers (a scrape before would read `up` 0)."""
    while not server.started:  # noqa: ASYNC110 - uvicorn offers a flag, not an event
        await asyncio.sleep(0.05)
    url = f"http://{host}:{port}/metrics"
    plane.scraper.set_urls("safeship", [(url, {})], interval=plane.config.self_scrape_interval)
