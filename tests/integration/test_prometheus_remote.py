"""`metrics.source: {prometheus: URL}`: the same analysis through Debian's real Prometheus
(scraping the router every second) gives the same verdicts as through the embedded store."""

from __future__ import annotations

import asyncio
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from safeship.analysis.judge import judge_metric
from safeship.analysis.verdict import Outcome, Verdict
from safeship.config.models import MetricSpec
from safeship.core.clock import SystemClock
from safeship.core.types import Replica, TrafficSplit
from safeship.metrics.promql import Engine
from safeship.metrics.scrape import Scraper
from safeship.metrics.sources.prometheus import PrometheusMetricsSource
from safeship.metrics.sources.promql import PromQLMetricsSource
from safeship.metrics.store import SeriesStore
from safeship.testing import free_port, start_demo_replica
from safeship.traffic.proxy.embedded import EmbeddedRouter

pytestmark = pytest.mark.integration
PROMETHEUS = "/usr/bin/prometheus"
BAD = ["--error-ratio", "0.2", "--latency-ms", "150"]
METRICS = [
    {"builtin": "request-success-rate", "min": 0.99},
    {"builtin": "request-duration-p99", "max": 100},
    {"builtin": "request-rate", "min": 1},
    {"builtin": "request-success-rate", "compare": {"test": "proportions"}},
    {"builtin": "request-duration-p99", "compare": {"test": "mannWhitney"}},
    {
        "query": 'sum(rate(safeship_router_requests_total{version="{{version}}",'
        'code=~"5.."}[{{window}}]))',
        "failIf": "result > 0.5",
    },
]

P, F, N = Outcome.PASS, Outcome.FAIL, Outcome.INCONCLUSIVE
# v1 is the stable pool itself; v2 answers 20 % errors, 150 ms slower.
EXPECTED = {
    **{(f"m{i}", "v1"): P for i in range(5)},
    **{(f"m{i}", "v2"): F for i in range(5)},
    ("m2", "v2"): P,  # request rate: both get traffic
    ("m5", "v1"): N,  # no 5xx series at all for v1: no data
    ("m5", "v2"): F,
}


def wait_for(url: str, process: subprocess.Popen[bytes], *, within: float = 20) -> None:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        assert process.poll() is None, f"{process.args!r} exited with {process.returncode}"
        try:
            if httpx.get(url, timeout=0.5).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    raise AssertionError(f"{url} never answered")


@pytest.fixture
def replicas() -> Iterator[tuple[Replica, Replica]]:
    started = [start_demo_replica("v1"), start_demo_replica("v2", *BAD)]
    try:
        yield started[0][1], started[1][1]
    finally:
        for process, _ in started:
            process.kill()
            process.wait()


def start_prometheus(tmp_path: Path, target: str) -> tuple[subprocess.Popen[bytes], str]:
    assert shutil.which(PROMETHEUS), f"{PROMETHEUS} is missing: scripts/install-system.sh"
    config = tmp_path / "prometheus.yml"
    config.write_text(
        "global: {scrape_interval: 1s, scrape_timeout: 1s, evaluation_interval: 1s}\n"
        "scrape_configs:\n"
        "  - job_name: safeship-router\n"
        f"    static_configs: [{{targets: ['{target}']}}]\n"
    )
    listen = f"127.0.0.1:{free_port()}"
    argv = [
        PROMETHEUS,
        f"--config.file={config}",
        f"--storage.tsdb.path={tmp_path / 'tsdb'}",
        f"--web.listen-address={listen}",
        "--log.level=warn",
    ]
    process = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_for(f"http://{listen}/-/ready", process)
    return process, f"http://{listen}"


def test_prometheus_and_the_embedded_store_reach_the_same_verdicts(
    replicas: tuple[Replica, Replica], tmp_path: Path
) -> None:
    good, bad = replicas
    metrics_port = free_port()
    prometheus, url = start_prometheus(tmp_path, f"127.0.0.1:{metrics_port}")
    try:
        verdicts = asyncio.run(run(good, bad, metrics_port=metrics_port, prometheus=url))
    finally:
        prometheus.terminate()
        prometheus.wait(timeout=10)
    for (name, version), (remote, local) in verdicts.items():
        assert remote.outcome is local.outcome, (name, version, remote.reason, local.reason)
    remote_outcomes = {key: pair[0].outcome for key, pair in verdicts.items()}
    assert remote_outcomes == EXPECTED


async def run(
    good: Replica, bad: Replica, *, metrics_port: int, prometheus: str
) -> dict[tuple[str, str], tuple[Verdict, Verdict]]:
    clock, store = SystemClock(), SeriesStore()
    router = EmbeddedRouter(service="demo", listen_port=0, metrics_port=metrics_port)
    await router.apply(TrafficSplit(stable=(good,), canary=(bad,), canary_weight=50))
    await router.start()
    try:
        async with Scraper(store, clock=clock) as scraper:
            scraper.set_urls(
                "safeship-router",
                [(f"http://127.0.0.1:{metrics_port}/metrics", {})],
                interval=1.0,
            )
            await wait_until_scraped(prometheus)
            await load(f"http://127.0.0.1:{router.port}", seconds=4.0)
            await asyncio.sleep(2.2)  # two more scrapes each after the last request
            remote = PrometheusMetricsSource(prometheus, service="demo", clock=clock)
            local = PromQLMetricsSource(Engine(store), service="demo", clock=clock)
            return await judge_all(remote, local)
    finally:
        await router.stop()


async def load(url: str, *, seconds: float) -> None:
    """Steady traffic, 20 requests at a time, so both scrapers see rising counters."""
    deadline = time.monotonic() + seconds
    async with httpx.AsyncClient(base_url=url, trust_env=False) as client:
        while time.monotonic() < deadline:
            await asyncio.gather(*(client.get("/") for _ in range(20)))


async def wait_until_scraped(prometheus: str) -> None:
    """Prometheus applies new targets on a 5 s cycle: wait for its first scrape of the router."""
    async with httpx.AsyncClient(trust_env=False) as client:
        for _ in range(100):
            answer = await client.get(f"{prometheus}/api/v1/query", params={"query": "up == 1"})
            if answer.json()["data"]["result"]:
                return
            await asyncio.sleep(0.2)
    raise AssertionError("Prometheus never scraped the router")


async def judge_all(
    remote: PrometheusMetricsSource, local: PromQLMetricsSource
) -> dict[tuple[str, str], tuple[Verdict, Verdict]]:
    verdicts: dict[tuple[str, str], tuple[Verdict, Verdict]] = {}
    for i, spec in enumerate(METRICS):
        metric = MetricSpec.model_validate({"name": f"m{i}", **spec})
        for version in ("v1", "v2"):
            a = await remote.measure(metric, version=version, window=30.0)
            b = await local.measure(metric, version=version, window=30.0)
            assert a.error is None and b.error is None, (a.error, b.error)
            verdicts[(metric.name, version)] = (judge_metric(metric, a), judge_metric(metric, b))
    return verdicts
