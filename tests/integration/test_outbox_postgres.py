"""The outbox contract of tests/unit/test_store_outbox.py on a real PostgreSQL, and what only
PostgreSQL offers: two workers claiming at once never get the same row."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from safeship.store.repository import Store
from safeship.testing import FakeClock
from tests.helpers import contract
from tests.unit.test_store_outbox import HOLD_S, entry

pytestmark = pytest.mark.integration

# The SQLite contract tests run here again; only the `store_url` fixture below differs.
globals().update(contract("test_store_outbox", "store", "clock"))


@pytest.fixture
def store_url(postgres_url: str) -> str:
    return postgres_url


@pytest.fixture
def other(store_url: str, clock: FakeClock) -> Iterator[Store]:
    with Store.open(store_url, clock=clock) as opened:
        yield opened


def test_two_workers_claiming_at_once_split_the_rows(store: Store, other: Store) -> None:
    store.submit_notifications([entry(f"g{i}", 1) for i in range(4)])
    with store.transaction() as tx:
        mine = tx.claim_notifications(limit=2, hold_s=HOLD_S)
        theirs = other.claim_notifications(limit=10, hold_s=HOLD_S)  # not blocked: skips
    assert len(mine) == 2 and len(theirs) == 2
    assert {r.id for r in mine}.isdisjoint({r.id for r in theirs})
