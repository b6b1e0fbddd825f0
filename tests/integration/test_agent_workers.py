"""Router workers of the agent: one port, a killed worker loses only its own requests."""

from __future__ import annotations

import os
import signal
from pathlib import Path
from typing import Any

import httpx
import pytest

from safeship.testing import free_port
from tests.integration.agent_kit import Load, agent, backends, wait_for

pytestmark = pytest.mark.integration


def test_a_killed_worker_loses_only_its_in_flight_requests_and_comes_back(
    tmp_path: Path,
) -> None:
    port = free_port()
    with agent(tmp_path) as process:
        process.put_replicas([{"version": "v1", "count": 2, "args": ["--latency-ms", "20"]}])
        replicas = process.ready_replicas(2)
        process.put_route({"stable": backends(replicas)}, listen=f"127.0.0.1:{port}")
        victim, other = process.ready_workers()
        born = _start_time(victim)
        with Load(f"http://127.0.0.1:{port}/", threads=4) as load:
            wait_for(lambda: load.ok > 50, what="traffic")
            os.killpg(victim["pid"], signal.SIGKILL)
            wait_for(
                lambda: any(
                    w["id"] == victim["id"] and w["state"] == "ready" and w["starts"] == 2
                    for w in process.service()["workers"]
                ),
                what="the worker's restart",
            )
            served = load.ok
            wait_for(lambda: load.ok > served + 50, what="traffic after the restart")
        # 4 clients, one request each at a time: at most those in flight on the victim fail
        assert load.failed <= 4, load.failures
        assert load.ok > 100
        workers = {w["id"]: w for w in process.service()["workers"]}
        assert workers[other["id"]]["pid"] == other["pid"]
        assert workers[victim["id"]]["pid"] != victim["pid"]
        # on the same metrics port, a later start time: what SafeshipRestartLoop counts
        assert _start_time(workers[victim["id"]]) > born


def _start_time(worker: dict[str, Any]) -> float:
    text = httpx.get(f"http://127.0.0.1:{worker['port']}/metrics", timeout=5).text
    (line,) = [x for x in text.splitlines() if x.startswith("process_start_time_seconds ")]
    return float(line.split()[1])


def test_every_worker_applies_a_new_split(tmp_path: Path) -> None:
    port = free_port()
    with agent(tmp_path) as process:
        process.put_replicas([{"version": "v1", "count": 1}, {"version": "v2", "count": 1}])
        v1, v2 = process.ready_replicas(2)
        listen = f"127.0.0.1:{port}"
        process.put_route({"stable": backends([v1])}, listen=listen, workers=3)
        process.ready_workers()
        process.put_route(
            {"stable": backends([v1]), "canary": backends([v2]), "canary_weight": 100},
            listen=listen,
            workers=3,
        )
        assert len(process.ready_workers()) == 3
        # new connection per request: the kernel spreads them over all three workers
        answers = {httpx.get(f"http://{listen}/version").text for _ in range(30)}
        assert answers == {"v2"}
        counters = process.call("GET", "/services/web/counters").json()
        assert counters["v2"]["requests"] == 30
