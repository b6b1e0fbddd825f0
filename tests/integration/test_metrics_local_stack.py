"""The local stack (`safeship run`, `demo`) measures with PromQL over its own scraped store:
the router's series and every replica's /metrics arrive within a couple of scrape intervals."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from safeship.config.models import MetricSpec, RolloutSpec
from safeship.metrics.sources.promql import PromQLMetricsSource
from safeship.wiring.local_stack import local_stack

pytestmark = pytest.mark.integration


def spec() -> RolloutSpec:
    return RolloutSpec.model_validate(
        {
            "service": {
                "name": "demo",
                "command": ["python", "-m", "safeship.demo.service", "--port", "{port}"]
                + ["--version", "{version}"],
                "stable": "v1",
            },
            "fleet": {"replicas": 2},
            "router": {"listen": "127.0.0.1:0"},
            "metrics": {"source": {"embedded": {"scrapeInterval": "500ms"}}},
            "analysis": {
                "metrics": [{"name": "ok", "builtin": "request-success-rate", "min": 0.99}]
            },
            "strategy": {"canary": {"steps": [{"setWeight": 50}]}},
        }
    )


def test_the_local_stack_analyses_on_promql_over_scraped_series() -> None:
    async def scenario() -> None:
        async with local_stack(spec()) as stack:
            await stack.serve("v1")
            async with httpx.AsyncClient(base_url=stack.url, trust_env=False) as client:
                for _ in range(5):
                    await asyncio.gather(*(client.get("/") for _ in range(10)))
                    await asyncio.sleep(0.2)
            await asyncio.sleep(1.5)
            source = stack.metrics
            assert isinstance(source, PromQLMetricsSource)
            metric = MetricSpec(name="ok", builtin="request-success-rate", min=0.99)
            measured = await source.measure(metric, version="v1", window=30)
            assert measured.error is None and measured.value == 1.0
            assert 30 <= measured.samples <= 60
            up = await source.querier.instant("sum by (job) (up == 1)", stack.clock.now())
            assert sorted((s["job"], v) for s, v in up) == [("demo", 2.0), ("safeship-router", 1.0)]

    asyncio.run(scenario())
