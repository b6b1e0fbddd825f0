"""The controller's view of an agent: `AgentProvider` is a Provider, `AgentRouter` a Router."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
import pytest

from safeship.agent.client import AgentClient, AgentProvider, AgentRouter
from safeship.config.models import RouterSpec
from safeship.core.errors import DeployError
from safeship.core.types import BASELINE, TrafficSplit
from safeship.fleet.provider import Provider
from safeship.testing import free_port
from safeship.traffic.router import Router
from tests.integration.agent_kit import DEMO, agent

pytestmark = pytest.mark.integration


async def canary_through_the_agent(socket: Path, listen: str) -> None:
    client = AgentClient(socket)
    provider: Provider = AgentProvider(client, service="web", command=DEMO)
    router: Router = AgentRouter(
        client, service="web", spec=RouterSpec(listen=listen, drain_timeout=1.0)
    )
    stable = await provider.scale("v1", 2)
    baseline = await provider.scale("v1", 1, role=BASELINE)
    canary = await provider.scale("v2", 1)
    assert [r.id for r in await provider.scale("v1", 2)] == [r.id for r in stable]
    split = TrafficSplit(stable=tuple(stable), canary=tuple(canary), canary_weight=100)
    await router.apply(split)
    assert router.current() == split
    async with httpx.AsyncClient() as http:
        answers = {(await http.get(f"http://{listen}/version")).text for _ in range(10)}
    assert answers == {"v2"}
    assert router.counters()["v2"].requests == 10
    assert len(await provider.replicas()) == 4
    assert baseline[0].role == BASELINE
    await provider.scale("v2", 0)
    assert {r.version for r in await provider.replicas()} == {"v1"}
    await provider.close()  # a client: the fleet keeps serving


def test_provider_and_router_protocols_over_the_agent(tmp_path: Path) -> None:
    listen = f"127.0.0.1:{free_port()}"
    with agent(tmp_path) as process:
        asyncio.run(canary_through_the_agent(process.socket, listen))
        assert len(process.service()["replicas"]) == 3


def test_an_unreachable_agent_is_a_deploy_error_that_says_what_to_do(tmp_path: Path) -> None:
    client = AgentClient(tmp_path / "nobody.sock")
    with pytest.raises(DeployError, match="is `safeship agent` running"):
        asyncio.run(client.health())
