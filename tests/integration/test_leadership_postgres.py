"""Leader election on a real PostgreSQL: the SQLite contract of test_store_leadership.py,
unchanged, plus many processes' worth of electors racing for a fresh lease at once.
"""

from __future__ import annotations

import asyncio
import threading
import time

import pytest
from prometheus_client import CollectorRegistry

from safeship.core.clock import SystemClock
from safeship.store import Store
from safeship.store.leadership import Elector
from safeship.wiring.leader import start_leadership
from tests.helpers import contract

pytestmark = pytest.mark.integration

# The SQLite contract tests run here again; only the `store_url` fixture below differs.
globals().update(contract("test_store_leadership", "clock", "two"))


@pytest.fixture
def store_url(postgres_url: str) -> str:
    return postgres_url


def test_electors_racing_for_a_fresh_lease_elect_exactly_one(store_url: str) -> None:
    stores = [Store.open(store_url) for _ in range(6)]
    electors = [Elector(s, name="control-plane", holder=f"e{i}") for i, s in enumerate(stores)]
    barrier = threading.Barrier(len(electors))

    def race(elector: Elector) -> None:
        barrier.wait()
        elector.claim()

    threads = [threading.Thread(target=race, args=(e,)) for e in electors]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    leaders = [e.holder for e in electors if e.leader]
    lease = stores[0].lease("control-plane")
    for s in stores:
        s.close()
    assert len(leaders) == 1
    assert lease is not None and (lease.holder, lease.token) == (leaders[0], 1)


def test_serve_leads_the_control_plane_and_exports_safeship_leader(store_url: str) -> None:
    registry = CollectorRegistry()

    def leading() -> list[float]:
        return [
            s.value for m in registry.collect() for s in m.samples if s.name == "safeship_leader"
        ]

    async def scenario() -> list[float]:
        tasks, _ = start_leadership(store_url, registry=registry, clock=SystemClock())
        for _ in range(200):
            if leading() == [1.0]:
                break
            await asyncio.sleep(0.02)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        return leading()

    assert asyncio.run(scenario()) == [1.0]
    with Store.open(store_url) as store:
        lease = store.lease("control-plane")
    assert lease is not None and lease.expires_at <= time.time()  # released on shutdown
