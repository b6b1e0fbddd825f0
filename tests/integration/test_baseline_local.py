"""A canary judged against a fresh baseline pool, end to end on the real local fleet: replica
processes, the embedded router under client traffic, the scraper and PromQL over its series.

A good version is promoted and a bad one (30 % errors) rolled back; either way the baseline
pool (fresh replicas of the stable version, given the canary's share) is gone at the end.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
import pytest

from safeship.config.models import RolloutSpec
from safeship.core.types import BASELINE, Replica
from safeship.rollout.state import Phase, Plan, Route, Scale
from safeship.store.repository import Store
from safeship.wiring.local_stack import LocalStack, local_stack
from safeship.wiring.run import run_rollout

pytestmark = pytest.mark.integration


def spec() -> RolloutSpec:
    return RolloutSpec.model_validate(
        {
            "service": {
                "name": "shop",
                "command": ["python", "-m", "safeship.demo.service", "--port", "{port}"]
                + ["--version", "{version}"],
                "stable": "v1",
                "versions": {"v3": {"args": ["--error-ratio", "0.3"]}},
            },
            "fleet": {"replicas": 2, "stopTimeout": "2s"},
            "router": {"listen": "127.0.0.1:0", "drainTimeout": "2s"},
            "metrics": {"source": {"embedded": {"scrapeInterval": "300ms"}}},
            "analysis": {
                "interval": "1s",
                "window": "10s",
                "metrics": [
                    {
                        "name": "errors",
                        "builtin": "request-success-rate",
                        "compare": {"test": "proportions"},
                        "minSamples": 30,
                    }
                ],
            },
            "strategy": {
                "canary": {
                    "canaryReplicas": 1,
                    "baseline": {"pool": "fresh"},
                    "steps": [
                        {"setWeight": 25},
                        {"analysis": {"count": 3, "inconclusiveLimit": 15}},
                    ],
                }
            },
        }
    )


async def _load(stack: LocalStack, stop: asyncio.Event) -> None:
    """About 100 requests a second through the router while the rollout runs."""
    async with httpx.AsyncClient(base_url=stack.url, trust_env=False, timeout=2) as client:
        while not stop.is_set():
            await asyncio.gather(*(client.get("/") for _ in range(5)), return_exceptions=True)
            await asyncio.sleep(0.04)


def _routed(stack: LocalStack, pool: str) -> float:
    """Requests the router answered from `pool`, from its own Prometheus series."""
    total = 0.0
    for family in stack.router.registry.collect():
        for sample in family.samples:
            if sample.name == "safeship_router_requests_total" and sample.labels["pool"] == pool:
                total += sample.value
    return total


async def _rollout(
    tmp_path: Path, version: str
) -> tuple[Phase, list[Plan], dict[str, float], list[Replica]]:
    plans: list[Plan] = []
    with Store.open(f"sqlite:///{tmp_path}/state-{version}.db") as store:
        async with local_stack(spec()) as stack:
            await stack.serve("v1")
            stop = asyncio.Event()
            load = asyncio.create_task(_load(stack, stop))
            try:
                final = await asyncio.wait_for(
                    run_rollout(stack, store, version=version, actor="test", on_plan=plans.append),
                    timeout=25,
                )
            finally:
                stop.set()
                await load
            routed = {pool: _routed(stack, pool) for pool in ("stable", "canary", "baseline")}
            left = await stack.provider.replicas()
    return final.phase, plans, routed, left


def _actions(plans: list[Plan]) -> list[object]:
    return [action for plan in plans for action in plan.actions]


@pytest.mark.parametrize(("version", "phase"), [("v2", Phase.PROMOTED), ("v3", Phase.ROLLED_BACK)])
def test_canary_against_a_fresh_baseline_is_judged_and_the_baseline_removed(
    tmp_path: Path, version: str, phase: Phase
) -> None:
    final, plans, routed, left = asyncio.run(_rollout(tmp_path, version))
    assert final is phase, [p.events for p in plans]
    actions = _actions(plans)
    assert Scale("v1", 1, role=BASELINE) in actions
    assert Scale("v1", 0, role=BASELINE) in actions
    assert Route("v1", version, 25, None, 25) in actions
    # the baseline saw as much traffic as the canary: the same share, alternating
    assert routed["baseline"] > 30
    assert abs(routed["baseline"] - routed["canary"]) <= 0.1 * routed["canary"] + 2
    assert not [r for r in left if r.role == BASELINE]
    survivor = "v2" if phase is Phase.PROMOTED else "v1"
    assert sorted(r.version for r in left) == [survivor, survivor]
    # judged against pool="baseline" (as many requests as the canary), not the stable pool's
    # twice as many
    last = [p.status.last_judgement for p in plans if p.status.last_judgement][-1]
    counted = last.evidence["errors"]
    canary, baseline = counted["canary"]["requests"], counted["baseline"]["requests"]
    assert abs(baseline - canary) <= 0.2 * canary, counted
    assert counted["baseline"]["errors"] == 0
    assert (counted["canary"]["errors"] > 0) is (version == "v3")
