"""The local provider's targets (named slots for rolling and waves), on real processes."""

from __future__ import annotations

import asyncio
import sys

import httpx
import pytest

from safeship.core.errors import DeployError
from safeship.fleet.local import LocalProvider

DEMO = [sys.executable, "-m", "safeship.demo.service", "--port", "{port}", "--version", "{version}"]
SLOTS = {"web-0": {"ring": "canary"}, "web-1": {}}


def provider() -> LocalProvider:
    return LocalProvider(
        service="web",
        command=DEMO,
        version_args={"broken": ["--no-such-flag"]},
        stop_timeout=3.0,
        start_timeout=10.0,
        targets=SLOTS,
    )


def version_at(url: str) -> str:
    return httpx.get(f"{url}/version", timeout=2).text.strip()


def test_targets_are_deployed_replaced_and_emptied() -> None:
    async def scenario() -> None:
        async with provider() as p:
            before = await p.targets()
            assert [(t.name, dict(t.labels), t.version) for t in before] == [
                ("web-0", {"ring": "canary"}, None),
                ("web-1", {}, None),
            ]
            first = await p.deploy("web-0", "v1")
            assert first.healthy and first.replica is not None
            assert version_at(first.replica.url) == "v1"
            again = await p.deploy("web-0", "v1")  # idempotent: the same process
            assert again.replica == first.replica
            moved = await p.deploy("web-0", "v2")
            assert moved.replica is not None and version_at(moved.replica.url) == "v2"
            assert p.pid(first.replica.id) is None  # the old process is gone
            assert [r.version for r in await p.replicas()] == ["v2"]
            assert await p.scale("v2", 0) == []  # pools never touch slots
            assert (await p.targets())[0].version == "v2"
            emptied = await p.deploy("web-0", None)
            assert emptied.version is None and await p.replicas() == []

    asyncio.run(scenario())


def test_a_version_that_cannot_start_leaves_the_old_one_running() -> None:
    async def scenario() -> None:
        async with provider() as p:
            running = await p.deploy("web-1", "v1")
            with pytest.raises(DeployError, match="no-such-flag"):
                await p.deploy("web-1", "broken")
            (_, after) = await p.targets()
            assert after.replica == running.replica and after.healthy

    asyncio.run(scenario())


def test_unknown_target_is_refused() -> None:
    async def scenario() -> None:
        async with provider() as p:
            with pytest.raises(KeyError, match="web-9"):
                await p.deploy("web-9", "v1")

    asyncio.run(scenario())
