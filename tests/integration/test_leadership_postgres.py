"""Leader election on a real PostgreSQL: the SQLite contract of test_store_leadership.py,
unchanged, plus many processes' worth of electors racing for a fresh lease at once.
"""

from __future__ import annotations

import importlib
import sys
import threading
from pathlib import Path

import pytest

from safeship.store import Store
from safeship.store.leadership import Elector

pytestmark = pytest.mark.integration

sys.path.insert(0, str(Path(__file__).parents[1] / "unit"))
_contract = importlib.import_module("test_store_leadership")
globals().update({k: v for k, v in vars(_contract).items() if k.startswith("test_")})
clock = _contract.clock
two = _contract.two


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
