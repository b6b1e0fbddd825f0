"""Signals end to end on real processes: demo replicas behind the embedded router, scraped
into the embedded store, judged with PromQL — and a replica that dies goes stale."""

from __future__ import annotations

import asyncio
import subprocess
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager

import httpx
import pytest

from safeship.analysis.judge import judge_metric
from safeship.analysis.verdict import Outcome
from safeship.config.models import MetricSpec
from safeship.core.clock import SystemClock
from safeship.core.types import Replica, TrafficSplit
from safeship.metrics.promql import Engine, Vector
from safeship.metrics.scrape import Scraper
from safeship.metrics.sources.promql import PromQLMetricsSource
from safeship.metrics.store import SeriesStore
from safeship.testing import start_demo_replica
from safeship.traffic.proxy.embedded import EmbeddedRouter

pytestmark = pytest.mark.integration
BAD = ["--error-ratio", "0.2", "--latency-ms", "150"]


@pytest.fixture
def replicas() -> Iterator[list[tuple[subprocess.Popen[bytes], Replica]]]:
    started = [start_demo_replica("v1"), start_demo_replica("v2", *BAD)]
    try:
        yield started
    finally:
        for process, _ in started:
            process.kill()
            process.wait()


@asynccontextmanager
async def routed(stable: Replica, canary: Replica) -> AsyncIterator[EmbeddedRouter]:
    router = EmbeddedRouter(service="demo", listen_port=0, metrics_port=0)
    await router.apply(TrafficSplit(stable=(stable,), canary=(canary,), canary_weight=50))
    await router.start()
    try:
        yield router
    finally:
        await router.stop()


async def load(url: str, *, requests: int) -> None:
    """`requests` GETs, 25 at a time (the bad version is slow on purpose)."""
    async with httpx.AsyncClient(base_url=url, trust_env=False) as client:
        for _ in range(requests // 25):
            await asyncio.gather(*(client.get("/") for _ in range(25)))


def metric(**spec: object) -> MetricSpec:
    return MetricSpec.model_validate({"name": "m", "minSamples": 20, **spec})


def test_router_and_replicas_are_scraped_and_judged_with_promql(
    replicas: list[tuple[subprocess.Popen[bytes], Replica]],
) -> None:
    (_, good), (bad_process, bad) = replicas

    async def scenario() -> None:
        clock, store = SystemClock(), SeriesStore()
        async with routed(good, bad) as router, Scraper(store, clock=clock) as scraper:
            router_url = f"http://127.0.0.1:{router.metrics_port}/metrics"
            scraper.set_urls("safeship-router", [(router_url, {})], interval=0.5)
            urls = [(f"{r.url}/metrics", {"version": r.version}) for r in (good, bad)]
            scraper.set_urls("demo", urls, interval=0.5)
            await load(f"http://127.0.0.1:{router.port}", requests=300)
            await asyncio.sleep(1.2)  # at least two scrapes after the last request
            source = PromQLMetricsSource(Engine(store), service="demo", clock=clock)
            await judge_both(source)
            up = Engine(store).instant("sum(up)", clock.now())
            assert isinstance(up, Vector) and up.values.tolist() == [3.0]
            bad_process.kill()
            bad_process.wait()
            await asyncio.sleep(1.2)
            up = Engine(store).instant('up{job="demo"}', clock.now())
            assert isinstance(up, Vector)
            assert sorted(up.values.tolist()) == [0.0, 1.0]

    asyncio.run(scenario())


async def judge_both(source: PromQLMetricsSource) -> None:
    rate = metric(builtin="request-success-rate", min=0.99)
    good = await source.measure(rate, version="v1", window=30)
    bad = await source.measure(rate, version="v2", window=30)
    assert good.samples > 100 and bad.samples > 100
    assert judge_metric(rate, good).outcome is Outcome.PASS
    assert judge_metric(rate, bad).outcome is Outcome.FAIL
    p99 = metric(builtin="request-duration-p99", max=100)
    assert judge_metric(p99, await source.measure(p99, version="v2", window=30)).outcome is (
        Outcome.FAIL
    )
    compare = metric(builtin="request-success-rate", compare={"test": "proportions"})
    verdict = judge_metric(compare, await source.measure(compare, version="v2", window=30))
    assert verdict.outcome is Outcome.FAIL, verdict.reason
