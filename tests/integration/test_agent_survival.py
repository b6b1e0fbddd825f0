"""`safeship agent`: the data plane keeps serving when the agent dies, and is re-adopted."""

from __future__ import annotations

import os
import shutil
import signal
import stat
from pathlib import Path
from typing import Any

import httpx
import pytest

from safeship.testing import free_port
from tests.integration.agent_kit import AgentProcess, Load, agent, alive, backends, wait_for

pytestmark = pytest.mark.integration


def serve_v1(process: AgentProcess, listen: str) -> list[dict[str, Any]]:
    process.put_replicas([{"version": "v1", "count": 2}])
    replicas = process.ready_replicas(2)
    process.put_route({"stable": backends(replicas)}, listen=listen)
    process.ready_workers()
    return replicas


def test_requests_through_the_router_reach_the_agents_replicas(tmp_path: Path) -> None:
    port = free_port()
    with agent(tmp_path) as process:
        replicas = serve_v1(process, f"127.0.0.1:{port}")
        answers = {httpx.get(f"http://127.0.0.1:{port}/version").text for _ in range(20)}
        assert answers == {"v1"}
        assert all(alive(r["pid"]) for r in replicas)
        mode = stat.S_IMODE(process.socket.stat().st_mode)
        assert mode == 0o600


def test_same_desired_state_twice_changes_nothing(tmp_path: Path) -> None:
    port = free_port()
    with agent(tmp_path) as process:
        replicas = serve_v1(process, f"127.0.0.1:{port}")
        assert not process.put_replicas([{"version": "v1", "count": 2}])
        assert not process.put_route({"stable": backends(replicas)}, listen=f"127.0.0.1:{port}")
        assert [r["pid"] for r in process.ready_replicas(2)] == [r["pid"] for r in replicas]


def test_killed_agent_leaves_the_fleet_serving_and_readopts_it(tmp_path: Path) -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}/version"
    with agent(tmp_path) as process:
        serve_v1(process, f"127.0.0.1:{port}")
        before = {
            u["id"]: u["pid"]
            for u in [*process.service()["replicas"], *process.service()["workers"]]
        }
        with Load(url, threads=2) as load:
            process.kill(signal.SIGKILL)
            assert httpx.get(url).text == "v1"  # nobody supervises, everybody serves
            process.start()
            service = process.service()
        after = {u["id"]: u["pid"] for u in [*service["replicas"], *service["workers"]]}
        assert after == before  # same processes: adopted, none started twice
        assert all(u["starts"] == 1 for u in [*service["replicas"], *service["workers"]])
        assert load.failed == 0, load.failures
        assert load.ok > 20


def test_desired_state_survives_restart_and_a_dead_replica_is_started_fresh(
    tmp_path: Path,
) -> None:
    port = free_port()
    with agent(tmp_path) as process:
        replicas = serve_v1(process, f"127.0.0.1:{port}")
        process.kill(signal.SIGTERM)  # a clean exit also leaves the fleet running
        assert all(alive(r["pid"]) for r in replicas)
        victim, survivor = replicas
        os.killpg(victim["pid"], signal.SIGKILL)
        process.start()
        now = {u["id"]: u for u in process.ready_replicas(2)}
        assert now[survivor["id"]]["pid"] == survivor["pid"]
        assert now[victim["id"]]["pid"] != victim["pid"]
        assert now[victim["id"]]["starts"] == 2
        assert process.service()["route"]["request"]["split"]["stable"] == backends(replicas)


def test_an_agent_whose_state_dir_is_removed_stops_with_its_fleet(tmp_path: Path) -> None:
    """Nobody could re-adopt that fleet, and a new agent would start a second one beside it."""
    with agent(tmp_path) as process:
        serve_v1(process, f"127.0.0.1:{free_port()}")
        pids = [u["pid"] for u in process.service()["replicas"] + process.service()["workers"]]
        shutil.rmtree(process.state_dir)
        assert process.proc is not None
        process.proc.wait(timeout=20)
        wait_for(lambda: not [p for p in pids if alive(p)], within=15, what="the fleet to stop")
