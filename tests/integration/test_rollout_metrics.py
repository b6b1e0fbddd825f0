"""While `safeship run` works, the router's /metrics also tells where the rollout is."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx

from safeship.config.models import RolloutSpec
from safeship.store import Store
from safeship.testing import free_port
from safeship.wiring.local_stack import local_stack
from safeship.wiring.run import run_rollout


def spec(metrics_port: int) -> RolloutSpec:
    return RolloutSpec.model_validate(
        {
            "service": {
                "name": "shop",
                "command": ["python", "-m", "safeship.demo.service", "--port", "{port}"]
                + ["--version", "{version}"],
                "stable": "v1",
            },
            "fleet": {"replicas": 2, "stopTimeout": "3s"},
            "router": {"listen": "127.0.0.1:0", "metricsListen": f"127.0.0.1:{metrics_port}"},
            "strategy": {"canary": {"steps": [{"setWeight": 30}, {"pause": {"duration": "1s"}}]}},
        }
    )


def test_router_metrics_export_the_rollout_phase_weight_and_progress(tmp_path: Path) -> None:
    port = free_port()

    async def scenario() -> str:
        async with local_stack(spec(port)) as stack:
            with Store.open(f"sqlite:///{tmp_path}/state.db") as store:
                await run_rollout(stack, store, version="v2", actor="test")
            async with httpx.AsyncClient() as client:
                return (await client.get(f"http://127.0.0.1:{port}/metrics")).text

    text = asyncio.run(scenario())
    lines = [line for line in text.splitlines() if line.startswith("safeship_")]
    assert any(
        line.startswith("safeship_rollout_phase{")
        and 'phase="Promoted"' in line
        and line.endswith(" 1.0")
        for line in lines
    ), lines
    assert any(
        line.startswith("safeship_migration_progress_ratio{") and line.endswith(" 1.0")
        for line in lines
    ), lines
