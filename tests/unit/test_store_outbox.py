"""The notification outbox in the store: persisted once, claimed once per hold, in order per
group, retried, dead-lettered and requeued. Run on SQLite here and on PostgreSQL by
tests/integration/test_outbox_postgres.py (which overrides only `store_url`)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from safeship.core.errors import Conflict, NotFound
from safeship.core.secrets import SECRETS
from safeship.store.outbox import OutboxEntry, OutboxStatus
from safeship.store.repository import Store
from safeship.testing import FakeClock

HOLD_S = 30.0


@pytest.fixture
def store_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'state.db'}"


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(start=1_800_000_000.0)


@pytest.fixture
def store(store_url: str, clock: FakeClock) -> Iterator[Store]:
    with Store.open(store_url, clock=clock) as opened:
        yield opened


def entry(group: str = "g1", sequence: int = 1, receiver: str = "team") -> OutboxEntry:
    return OutboxEntry(
        receiver=receiver,
        integration="webhook_configs[0]",
        group_key=group,
        sequence=sequence,
        payload={"group": group, "sequence": sequence},
    )


def test_submitting_the_same_notification_twice_stores_it_once(store: Store) -> None:
    assert store.submit_notifications([entry("g1", 1), entry("g2", 1)]) == 2
    assert store.submit_notifications([entry("g1", 1), entry("g2", 1), entry("g1", 2)]) == 1
    rows = store.notifications()
    assert [(r.group_key, r.sequence) for r in rows] == [("g1", 1), ("g2", 1), ("g1", 2)]
    assert all(r.status is OutboxStatus.pending and r.attempts == 0 for r in rows)
    assert rows[0].payload == {"group": "g1", "sequence": 1}


def test_the_notification_id_is_the_same_for_the_same_notification_only() -> None:
    assert entry("g1", 1).notification_id == entry("g1", 1).notification_id
    others = [entry("g1", 2), entry("g2", 1), entry("g1", 1, receiver="ops")]
    assert entry("g1", 1).notification_id not in {e.notification_id for e in others}


def test_a_claimed_row_is_not_claimed_again_until_its_hold_ends(
    store: Store, clock: FakeClock
) -> None:
    store.submit_notifications([entry("g1", 1)])
    first = store.claim_notifications(limit=10, hold_s=HOLD_S)
    assert [(r.sequence, r.attempts) for r in first] == [(1, 1)]
    assert store.claim_notifications(limit=10, hold_s=HOLD_S) == []
    clock.advance(HOLD_S - 1)
    assert store.claim_notifications(limit=10, hold_s=HOLD_S) == []
    clock.advance(1)  # the worker died mid-send: the row comes back, same identity
    again = store.claim_notifications(limit=10, hold_s=HOLD_S)
    assert [(r.notification_id, r.attempts) for r in again] == [(first[0].notification_id, 2)]


def test_a_group_is_delivered_in_order_and_other_groups_are_not_held_up(store: Store) -> None:
    store.submit_notifications([entry("g1", 2), entry("g1", 1), entry("g2", 1)])
    claimed = store.claim_notifications(limit=10, hold_s=HOLD_S)
    assert sorted((r.group_key, r.sequence) for r in claimed) == [("g1", 1), ("g2", 1)]
    g1 = next(r for r in claimed if r.group_key == "g1")
    store.notification_failed(g1.id, error="HTTP 503", retry_at=None)  # dead: no longer blocks
    nxt = store.claim_notifications(limit=10, hold_s=HOLD_S)
    assert [(r.group_key, r.sequence) for r in nxt] == [("g1", 2)]


def test_a_row_behind_a_held_one_of_its_group_is_not_due_before_it(
    store: Store, clock: FakeClock
) -> None:
    store.submit_notifications([entry("g1", 1), entry("g1", 2)])
    store.claim_notifications(limit=10, hold_s=HOLD_S)
    assert store.next_notification_due() == clock.now() + HOLD_S  # not sequence 2's: now


def test_a_failed_attempt_waits_for_its_retry_time(store: Store, clock: FakeClock) -> None:
    store.submit_notifications([entry()])
    (row,) = store.claim_notifications(limit=10, hold_s=HOLD_S)
    store.notification_failed(row.id, error="HTTP 503", retry_at=clock.now() + 5)
    assert store.next_notification_due() == clock.now() + 5
    clock.advance(4.9)
    assert store.claim_notifications(limit=10, hold_s=HOLD_S) == []
    clock.advance(0.1)
    (again,) = store.claim_notifications(limit=10, hold_s=HOLD_S)
    store.notification_delivered(again.id)
    (done,) = store.notifications()
    assert (done.status, done.attempts, done.delivered_at) == (
        OutboxStatus.delivered,
        2,
        clock.now(),
    )
    assert done.last_error == "HTTP 503"
    assert store.notification_depth() == {} and store.next_notification_due() is None


def test_the_last_error_is_scrubbed_of_secrets(store: Store) -> None:
    SECRETS.add("hunter2-outbox-secret")
    store.submit_notifications([entry()])
    (row,) = store.claim_notifications(limit=10, hold_s=HOLD_S)
    store.notification_failed(
        row.id, error="401 for token hunter2-outbox-secret at https://u:pw@h/", retry_at=None
    )
    (dead,) = store.notifications(status=OutboxStatus.dead)
    assert dead.last_error is not None
    assert "hunter2" not in dead.last_error and "pw@" not in dead.last_error


def test_a_dead_letter_is_requeued_and_the_retry_is_audited(store: Store, clock: FakeClock) -> None:
    store.submit_notifications([entry("g1", 1), entry("g2", 1)])
    rows = store.claim_notifications(limit=10, hold_s=HOLD_S)
    store.notification_failed(rows[0].id, error="HTTP 400", retry_at=None)
    assert store.notification_depth() == {"team": 1}
    assert [r.id for r in store.notifications(status=OutboxStatus.dead)] == [rows[0].id]
    clock.advance(60)
    requeued = store.retry_notification(rows[0].id, actor="alice")
    assert (requeued.status, requeued.attempts) == (OutboxStatus.pending, 0)
    assert requeued.next_attempt_at == clock.now()
    assert rows[0].id in [r.id for r in store.claim_notifications(limit=10, hold_s=HOLD_S)]
    (audited,) = store.audit_entries()
    assert (audited.actor, audited.action) == ("alice", "retry notification")
    with pytest.raises(Conflict):
        store.retry_notification(rows[1].id, actor="alice")
    for unknown in (9999, 0, -1, 2**64):
        with pytest.raises(NotFound):
            store.retry_notification(unknown, actor="alice")


def test_an_entry_submitted_dead_is_kept_as_a_dead_letter(store: Store) -> None:
    lost = OutboxEntry(
        receiver="nobody",
        integration="",
        group_key="g",
        sequence=1,
        payload={},
        dead_reason="no receiver named 'nobody'",
    )
    store.submit_notifications([lost])
    assert store.claim_notifications(limit=10, hold_s=HOLD_S) == []
    (dead,) = store.notifications(status=OutboxStatus.dead)
    assert dead.last_error == "no receiver named 'nobody'"


def test_a_claim_takes_at_most_limit_rows_oldest_due_first(store: Store) -> None:
    store.submit_notifications([entry(f"g{i}", 1) for i in range(5)])
    claimed = store.claim_notifications(limit=3, hold_s=HOLD_S)
    assert [r.group_key for r in claimed] == ["g0", "g1", "g2"]


def test_delivered_notifications_are_pruned_after_their_time_dead_letters_stay(
    store: Store, clock: FakeClock
) -> None:
    store.submit_notifications([entry("g1", 1), entry("g2", 1), entry("g3", 1)])
    first, second, third = store.claim_notifications(limit=10, hold_s=HOLD_S)
    store.notification_delivered(first.id)
    store.notification_failed(second.id, error="HTTP 400", retry_at=None)
    clock.advance(100)
    store.notification_delivered(third.id)
    assert store.prune_notifications(before=clock.now() - 50) == 1
    assert [r.id for r in store.notifications()] == [second.id, third.id]
