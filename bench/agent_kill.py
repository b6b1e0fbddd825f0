"""SIGKILL a router worker, then the whole agent, under load: what does it cost?

A real `safeship agent` (temp state dir) runs 2 demo replicas (10 ms latency) behind 2 router
workers; `safeship.demo.load` sends a steady rate through the router the whole time. Then:

1. SIGKILL one router worker: failed requests (at most its in-flight ones), time until a
   fresh connection is served (the other worker keeps the port) and until the worker is back;
2. SIGKILL the agent: failed requests while it is gone, time until traffic flows (it never
   stops: nothing on the request path belongs to the agent), then restart it: time until it
   answers, and whether every replica and worker was re-adopted (same pids, one start each).

    .venv/bin/python bench/agent_kill.py [--rate 200] [--seconds 10]

Prints the figures and writes bench/results/agent_kill.json.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

from safeship.agent.client import AgentClient, AgentProvider, AgentRouter
from safeship.agent.model import ServiceView
from safeship.config.models import RouterSpec
from safeship.core.types import TrafficSplit
from safeship.demo.load import LoadReport, run_load
from safeship.testing import free_port

RESULTS = Path(__file__).parent / "results" / "agent_kill.json"
DEMO = [sys.executable, "-m", "safeship.demo.service", "--port", "{port}", "--version", "{version}"]


def start_agent(state_dir: Path) -> subprocess.Popen[bytes]:
    argv = [sys.executable, "-m", "safeship.cli", "agent", "--state-dir", str(state_dir)]
    argv += ["--socket", str(state_dir / "agent.sock")]
    return subprocess.Popen(argv, stderr=subprocess.DEVNULL)


async def until(check: Any, *, within: float = 20.0) -> float:
    """Seconds until `check()` (async) is true."""
    started = time.monotonic()
    while not await check():
        if time.monotonic() - started > within:
            raise TimeoutError("condition not reached")
        await asyncio.sleep(0.01)
    return time.monotonic() - started


async def served(url: str) -> bool:
    """A fresh connection gets a 200 (so it reached a live worker)."""
    try:
        async with httpx.AsyncClient(timeout=1.0, trust_env=False) as http:
            return (await http.get(url)).status_code == 200
    except httpx.HTTPError:
        return False


async def answers(client: AgentClient) -> bool:
    try:
        await client.health()
    except Exception:
        return False
    return True


def pids(view: ServiceView) -> dict[str, tuple[int | None, int]]:
    return {u.id: (u.pid, u.starts) for u in (*view.replicas, *view.workers)}


def failures_between(report: LoadReport, start: float, end: float) -> int:
    """Failed requests sent within [start, end) seconds of the load run."""
    rows = [r for s, r in report.per_second.items() if start <= s < end]
    return sum(r["mechanics_error"] + r["version_error"] + r["other"] for r in rows)


async def bench(*, rate: float, seconds: float, state_dir: Path) -> dict[str, Any]:
    agent = start_agent(state_dir)
    client = AgentClient(state_dir / "agent.sock")
    await until(lambda: answers(client))
    listen = f"127.0.0.1:{free_port()}"
    url = f"http://{listen}/"
    provider = AgentProvider(
        client, service="bench", command=DEMO, version_args={"v1": ["--latency-ms", "10"]}
    )
    router = AgentRouter(client, service="bench", spec=RouterSpec(listen=listen, drain_timeout=1))
    await router.apply(TrafficSplit(stable=tuple(await provider.scale("v1", 2))))
    view = await client.service("bench")
    assert view is not None
    before = pids(view)
    load = asyncio.create_task(run_load(url=url, rate=rate, duration=seconds, concurrency=50))
    result: dict[str, Any] = {"rate": rate, "seconds": seconds, "workers": len(view.workers)}
    t0 = time.monotonic()

    await asyncio.sleep(seconds * 0.2)
    worker_killed_at = time.monotonic() - t0
    victim = view.workers[0]
    assert victim.pid is not None
    os.killpg(victim.pid, signal.SIGKILL)
    result["worker_kill_traffic_flows_s"] = round(await until(lambda: served(url)), 3)

    async def worker_back() -> bool:
        now = await client.service("bench")
        return now is not None and any(
            w.id == victim.id and w.state == "ready" and w.starts == 2 for w in now.workers
        )

    result["worker_back_s"] = round(await until(worker_back), 3)
    await asyncio.sleep(max(0.0, seconds * 0.5 - (time.monotonic() - t0)))
    agent_killed_at = time.monotonic() - t0
    agent.send_signal(signal.SIGKILL)
    agent.wait()
    result["agent_kill_traffic_flows_s"] = round(await until(lambda: served(url)), 3)
    await asyncio.sleep(1.0)
    restarted = time.monotonic()
    agent = start_agent(state_dir)
    await until(lambda: answers(client))
    result["agent_back_s"] = round(time.monotonic() - restarted, 3)
    report = await load
    view = await client.service("bench")
    assert view is not None
    after = pids(view)
    result["replicas_started_twice"] = [
        i for i in before if i != victim.id and (after.get(i) != before[i])
    ]
    result["readopted_same_pids"] = not result["replicas_started_twice"]
    # A request is counted against the kill that followed the second it was sent in: those
    # in flight at a kill were sent up to a second before it.
    cut = max(0, int(agent_killed_at) - 1)
    result["sent"] = report.sent
    result["ok"] = report.ok
    result["failed_worker_kill"] = failures_between(report, 0, cut)
    result["failed_agent_kill_and_restart"] = failures_between(report, cut, seconds + 1)
    result["failed_total"] = report.sent - report.ok
    result["failed_by_second"] = {
        s: failures_between(report, s, s + 1)
        for s in sorted(report.per_second)
        if failures_between(report, s, s + 1)
    }
    result["failure_samples"] = report.mechanics_error_samples[:5]
    result["worker_killed_at_s"] = round(worker_killed_at, 3)
    result["agent_killed_at_s"] = round(agent_killed_at, 3)
    await provider.scale("v1", 0)
    await client.aclose()
    agent.send_signal(signal.SIGKILL)
    agent.wait()
    return result


def stop_everything(state_dir: Path) -> None:
    """The fleet outlives the agent by design: the bench stops what the agent recorded."""
    try:
        records = json.loads((state_dir / "observed.json").read_text())["records"]
    except (OSError, ValueError):
        return
    for record in records.values():
        if record["pid"]:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(record["pid"], signal.SIGKILL)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rate", type=float, default=200.0)
    parser.add_argument("--seconds", type=float, default=10.0)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="safeship-agent-kill-") as tmp:
        state_dir = Path(tmp) / "agent"
        try:
            result = asyncio.run(bench(rate=args.rate, seconds=args.seconds, state_dir=state_dir))
        finally:
            stop_everything(state_dir)
    for key, value in result.items():
        print(f"{key:32} {value}")
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    return 0 if result["readopted_same_pids"] else 1


if __name__ == "__main__":
    sys.exit(main())
