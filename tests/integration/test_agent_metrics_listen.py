"""`router.metricsListen` under the agent: one exposition merging the router workers'."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from safeship.metrics.exposition import parse
from safeship.testing import free_port
from tests.integration.agent_kit import agent, backends, wait_for

pytestmark = pytest.mark.integration

REQUESTS = 40


def test_metrics_listen_merges_the_workers_follows_the_route_and_outlives_agent_restarts(
    tmp_path: Path,
) -> None:
    port, metrics = free_port(), free_port()
    with agent(tmp_path) as process:
        process.put_replicas([{"version": "v1", "count": 1}])
        split = {"stable": backends(process.ready_replicas(1))}
        process.put_route(split, listen=f"127.0.0.1:{port}", metrics_listen=f"127.0.0.1:{metrics}")
        workers = {w["id"] for w in process.ready_workers()}
        for _ in range(REQUESTS):  # a connection each: the kernel spreads them over workers
            with httpx.Client(trust_env=False) as http:
                assert http.get(f"http://127.0.0.1:{port}/").status_code == 200

        text = httpx.get(f"http://127.0.0.1:{metrics}/metrics", timeout=5).text
        parse(text)  # valid for safeship's own scraper
        if shutil.which("promtool"):
            check = subprocess.run(
                ["promtool", "check", "metrics"], input=text, capture_output=True, text=True
            )
            assert check.returncode == 0, check.stdout + check.stderr
        assert text.count("# TYPE safeship_router_requests_total counter") == 1
        families = {f.name: f for f in text_string_to_metric_families(text)}
        served = {
            s.labels["worker"]: s.value
            for s in families["safeship_router_requests"].samples
            if s.labels["version"] == "v1" and s.labels["code"] == "200"
        }
        assert set(served) == workers  # both served some, each its own series
        assert all(count > 0 for count in served.values()), served
        assert sum(served.values()) == REQUESTS
        assert process.call("GET", "/services/web/counters").json()["v1"]["requests"] == REQUESTS
        (errors,) = families["safeship_agent_worker_scrape_errors"].samples
        assert errors.value == 0

        moved = free_port()  # a new metricsListen: the old address stops answering
        process.put_route(split, listen=f"127.0.0.1:{port}", metrics_listen=f"127.0.0.1:{moved}")
        process.ready_workers()
        new = wait_for(lambda: _scrape(moved), what="the moved metricsListen")
        assert "safeship_router_requests_total" in new
        assert _scrape(metrics) is None

        process.kill()  # the endpoint is the agent's: a restarted agent opens it again
        assert _scrape(moved) is None
        process.start()
        assert "safeship_router_requests_total" in wait_for(
            lambda: _scrape(moved), what="metricsListen after the agent's restart"
        )


def _scrape(port: int) -> str | None:
    try:
        return httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text
    except httpx.HTTPError:
        return None
