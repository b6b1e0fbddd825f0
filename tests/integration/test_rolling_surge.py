"""A rolling update with maxSurge under steady client load drops no request: each target's new
replica is routed before its old one is drained and stopped (real processes, real router)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx

from safeship.config.models import RolloutSpec
from safeship.demo.load import LoadReport, run_load
from safeship.rollout.state import Phase
from safeship.store.repository import Store
from safeship.wiring.local_stack import local_stack
from safeship.wiring.run import run_rollout

DEMO = ["python", "-m", "safeship.demo.service", "--port", "{port}", "--version", "{version}"]


def spec() -> RolloutSpec:
    return RolloutSpec.model_validate(
        {
            # every answer takes a little while, so requests are in flight during each stop
            "service": {"name": "shop", "command": [*DEMO, "--latency-ms", "20"], "stable": "v1"},
            "fleet": {"replicas": 4, "startTimeout": "10s", "stopTimeout": "3s"},
            "router": {"listen": "127.0.0.1:0", "drainTimeout": "5s"},
            "analysis": {
                "metrics": [{"name": "ok", "builtin": "request-success-rate", "min": 0.99}]
            },
            "strategy": {"rolling": {"batchSize": 2, "maxUnavailable": 1, "maxSurge": 1}},
        }
    )


async def _posts(url: str, stop: asyncio.Event) -> dict[str, int]:
    """Non-idempotent requests over keep-alive connections: the router may never retry them,
    so a request sent to a replica that is being stopped would reach the client as an error."""
    counts = {"ok": 0, "failed": 0}
    async with httpx.AsyncClient(base_url=url, timeout=5, trust_env=False) as client:

        async def one_client() -> None:
            while not stop.is_set():
                try:
                    answer = await client.post("/", content=b"order")
                    counts["ok" if answer.is_success else "failed"] += 1
                except httpx.HTTPError:
                    counts["failed"] += 1

        await asyncio.gather(*(one_client() for _ in range(4)))
    return counts


def test_rolling_with_max_surge_under_load_has_no_client_visible_errors(tmp_path: Path) -> None:
    async def scenario() -> tuple[Phase, LoadReport, dict[str, int], list[str]]:
        store = Store.open(f"sqlite:///{tmp_path}/state.db")
        async with local_stack(spec()) as stack:
            await stack.serve("v1")
            stop = asyncio.Event()
            gets = asyncio.create_task(
                run_load(url=stack.url + "/", rate=150, duration=60, stop_event=stop)
            )
            posts = asyncio.create_task(_posts(stack.url, stop))
            await asyncio.sleep(0.5)
            status = await run_rollout(stack, store, version="v2", actor="test")
            await asyncio.sleep(0.5)
            stop.set()
            versions = [t.version or "-" for t in await stack.provider.targets()]
            return status.phase, await gets, await posts, versions

    phase, gets, posts, versions = asyncio.run(scenario())
    assert phase is Phase.PROMOTED
    assert versions == ["v2"] * 4
    assert gets.sent > 100 and posts["ok"] > 100
    assert gets.mechanics_errors == 0, gets.mechanics_error_samples
    assert gets.version_errors == {} and gets.other == 0
    assert posts["failed"] == 0
    assert gets.by_version["v2"]["ok"] > 0  # the new version did serve during the run
