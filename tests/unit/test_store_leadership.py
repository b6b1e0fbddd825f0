"""Leader election on a real database: two electors (two stores, as two processes would have),
one leader; a leader that stops renewing is replaced within TTL + renew interval; its persist
after the takeover is refused with NotLeader and leaves no trace. Runs on SQLite here and on
PostgreSQL in tests/integration/test_leadership_postgres.py (only `store_url` differs).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace

import pytest

from safeship.config.models import RolloutSpec
from safeship.core.clock import SystemClock
from safeship.core.errors import NotLeader
from safeship.rollout.journal import StoreJournal
from safeship.rollout.state import Plan, Scale, new_status
from safeship.store import Store
from safeship.store.leadership import Elector, lead
from safeship.store.lease import LeaseReason, renew_interval
from safeship.testing import FakeClock
from safeship.wiring.run import run_rollout

TTL = 9.0
NAME = "rollout:web"
SPEC = RolloutSpec.model_validate(
    {
        "service": {"name": "web", "command": ["serve", "{port}"]},
        "strategy": {"canary": {"steps": [{"setWeight": 20}, {"pause": {}}]}},
    }
)


@pytest.fixture
def store_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'state.db'}"


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(start=1_800_000_000.0)


@pytest.fixture
def two(store_url: str, clock: FakeClock) -> Iterator[tuple[Elector, Elector]]:
    """Two electors on the same database, each with its own store (its own connections)."""
    stores = [Store.open(store_url, clock=clock) for _ in range(2)]
    yield (
        Elector(stores[0], name=NAME, holder="a", ttl=TTL),
        Elector(stores[1], name=NAME, holder="b", ttl=TTL),
    )
    for s in stores:
        s.close()


def plan(action: str = "v2") -> Plan:
    status = new_status(SPEC, rollout_id="web-1", stable="v1", canary="v2", now=1_800_000_000.0)
    return Plan(status=status, actions=(Scale(action, 1),), requeue_after=1.0)


def test_of_two_electors_exactly_one_leads(two: tuple[Elector, Elector]) -> None:
    a, b = two
    first, second = a.claim(), b.claim()
    assert first is not None and second is not None
    assert (first.reason, second.reason) == (LeaseReason.ACQUIRED, LeaseReason.FOLLOWING)
    assert (a.leader, b.leader) == (True, False)
    with pytest.raises(NotLeader, match="led by a"):
        b.fence()


def test_a_leader_that_stops_renewing_is_replaced_within_ttl_plus_renew_interval(
    two: tuple[Elector, Elector], clock: FakeClock
) -> None:
    a, b = two
    a.claim()
    last_renewal = clock.now()
    while not b.leader:  # b keeps claiming on its schedule; a has stopped (paused, dead)
        clock.advance(renew_interval(TTL))
        b.claim()
    assert clock.now() - last_renewal <= TTL + renew_interval(TTL)
    assert b.fence().token == a.fence().token + 1


def test_renewing_keeps_the_term_and_the_follower_out(
    two: tuple[Elector, Elector], clock: FakeClock
) -> None:
    a, b = two
    a.claim()
    for _ in range(10):
        clock.advance(renew_interval(TTL))
        a.claim()
        b.claim()
    assert (a.leader, b.leader, a.fence().token) == (True, False, 1)


def test_an_old_leaders_persist_after_takeover_is_refused_and_leaves_no_trace(
    two: tuple[Elector, Elector], clock: FakeClock
) -> None:
    a, b = two
    a.claim()
    old = StoreJournal(a.store, actor="old-leader", clock=clock, fence=a.fence)
    old.record(plan("v2"), spec=SPEC)  # while it leads, it persists
    clock.advance(TTL + 1)  # a is paused past its lease (SIGSTOP, GC, a partition)...
    b.claim()
    new = StoreJournal(b.store, actor="new-leader", clock=clock, fence=b.fence)
    new.record(plan("v3"), spec=SPEC)
    with pytest.raises(NotLeader, match="held by b"):
        old.record(plan("v4"), spec=SPEC)  # ...and resumes, still believing it leads
    actors = [(e.actor, e.action) for e in b.store.audit_entries()]
    assert actors[-1] == ("new-leader", "scale v3 to 1 replicas")
    assert ("old-leader", "scale v4 to 1 replicas") not in actors
    stored = b.store.get_rollout("web-1")
    assert stored is not None and stored.actor == "new-leader"


def test_release_lets_the_follower_take_over_at_once(two: tuple[Elector, Elector]) -> None:
    a, b = two
    a.claim()
    a.release()
    decision = b.claim()
    assert decision is not None and decision.reason is LeaseReason.TAKEN_OVER
    assert b.fence().token == 2


def test_running_electors_fail_over_in_real_time(store_url: str) -> None:
    ttl = 0.9
    with Store.open(store_url) as one, Store.open(store_url) as other:
        a = Elector(one, name=NAME, holder="a", ttl=ttl)
        b = Elector(other, name=NAME, holder="b", ttl=ttl)

        async def scenario() -> float:
            run_a = asyncio.create_task(a.run())
            while not a.leader:  # noqa: ASYNC110 - polled like a follower would
                await asyncio.sleep(0.01)
            run_b = asyncio.create_task(b.run())
            await asyncio.sleep(ttl)  # b has claimed a few times and followed
            assert (a.leader, b.leader) == (True, False)
            run_a.cancel()  # the leader stops renewing, without releasing
            stopped = time.monotonic()
            while not b.leader:  # noqa: ASYNC110 - measures the takeover
                await asyncio.sleep(0.01)
            run_b.cancel()
            return time.monotonic() - stopped

        took = asyncio.run(scenario())
    assert took <= ttl + renew_interval(ttl) + 0.5  # slack for two busy cores


def test_a_second_run_of_a_service_is_refused_while_the_first_leads(store_url: str) -> None:
    with Store.open(store_url, clock=SystemClock()) as first, Store.open(store_url) as second:

        async def scenario() -> None:
            async with lead(first, name=NAME, what="rollout of web", ttl=0.9):
                started = time.monotonic()
                with pytest.raises(NotLeader, match=r"rollout of web is led by .* until "):
                    async with lead(second, name=NAME, what="rollout of web", ttl=0.9):
                        pytest.fail("two leaders")
                assert time.monotonic() - started < 0.9  # refused once it saw a renewal
            async with lead(second, name=NAME, what="rollout of web", ttl=0.9) as elector:
                assert elector.leader  # released on exit: no wait for expiry

        asyncio.run(scenario())


def test_a_dead_runs_lease_is_taken_once_it_lapses(store_url: str) -> None:
    with Store.open(store_url) as dead, Store.open(store_url) as second:
        Elector(dead, name=NAME, holder="dead", ttl=0.6).claim()  # then never renews

        async def scenario() -> int:
            async with lead(second, name=NAME, what="rollout of web", ttl=0.6) as elector:
                return elector.fence().token

        assert asyncio.run(scenario()) == 2


def test_a_status_is_never_persisted_by_a_follower(two: tuple[Elector, Elector]) -> None:
    a, b = two
    a.claim()
    b.claim()
    journal = StoreJournal(b.store, actor="follower", clock=b.store.clock, fence=b.fence)
    with pytest.raises(NotLeader):
        journal.record(plan(), spec=SPEC)
    assert b.store.get_rollout("web-1") is None


def test_safeship_run_of_a_service_led_elsewhere_exits_with_who_leads(store_url: str) -> None:
    stack = SimpleNamespace(spec=SPEC)  # refused before the stack is touched

    async def scenario() -> None:
        with Store.open(store_url) as first, Store.open(store_url) as second:
            async with lead(first, name="rollout:web", what="rollout of web", ttl=0.9):
                await run_rollout(stack, second, version="v2", actor="t", leased=True)  # type: ignore[arg-type]

    with pytest.raises(NotLeader, match=r"^rollout of web is led by .+ until ") as refused:
        asyncio.run(scenario())
    assert refused.value.exit_code == 3
