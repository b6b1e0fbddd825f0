"""The delivery worker over a real outbox (SQLite) with a scripted notifier and a fake clock:
what is sent, retried, dead-lettered and counted (alerting/delivery.py)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry
from sqlalchemy.exc import OperationalError

from safeship.alerting.delivery import DeliverySettings, DeliveryWorker, Outbox
from safeship.alerting.delivery_policy import RetryPolicy
from safeship.alerting.notification import Notification, NotifiedAlert, Status
from safeship.alerting.notifiers import Delivery, SendFailed
from safeship.alerting.receivers import Receiver
from safeship.store.outbox import OutboxRow, OutboxStatus
from safeship.store.repository import Store
from safeship.testing import FakeClock

SETTINGS = DeliverySettings(
    policy=RetryPolicy(initial_s=10, multiplier=2, max_delay_s=100, max_attempts=3),
    hold_s=30,
)
TEAM = Receiver.model_validate({"name": "team", "webhook_configs": [{"url": "http://x/"}]})


class Scripted:
    """A notifier that fails with the scripted errors first, then delivers."""

    def __init__(self, *failures: SendFailed) -> None:
        self.failures = list(failures)
        self.sent: list[Delivery] = []

    async def send(self, delivery: Delivery) -> None:
        if self.failures:
            raise self.failures.pop(0)
        self.sent.append(delivery)

    async def aclose(self) -> None:
        return None


class Signalling(Scripted):
    """Delivers, and says so."""

    def __init__(self) -> None:
        super().__init__()
        self.done = asyncio.Event()

    async def send(self, delivery: Delivery) -> None:
        await super().send(delivery)
        self.done.set()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(start=1_800_000_000.0)


@pytest.fixture
def store(tmp_path: Path, clock: FakeClock) -> Iterator[Store]:
    with Store.open(f"sqlite:///{tmp_path / 'state.db'}", clock=clock) as opened:
        yield opened


def notification(group: str, sequence: int, receiver: str = "team") -> Notification:
    alert = NotifiedAlert(
        labels=(("alertname", group),),
        annotations=(),
        status=Status.FIRING,
        starts_at_ms=0,
        ends_at_ms=None,
        generator_url="",
        fingerprint=group,
    )
    return Notification(
        receiver=receiver,
        group_key=group,
        group_labels=(("alertname", group),),
        alerts=(alert,),
        sequence=sequence,
    )


def worker(
    store: Store, clock: FakeClock, notifier: Scripted, registry: CollectorRegistry
) -> DeliveryWorker:
    notifiers = {("team", "webhook_configs[0]"): notifier}
    return DeliveryWorker(
        store, notifiers, clock=clock, registry=registry, settings=SETTINGS, jitter=lambda: 0.999
    )


def sample(registry: CollectorRegistry, name: str, **labels: str) -> float:
    return registry.get_sample_value(name, labels) or 0.0


def test_a_notification_is_delivered_once_with_its_identity_and_counted(
    store: Store, clock: FakeClock
) -> None:
    registry, notifier = CollectorRegistry(), Scripted()
    Outbox(store, {"team": TEAM}).submit([notification("g1", 1)])
    Outbox(store, {"team": TEAM}).submit([notification("g1", 1)])  # again: nothing new
    run = worker(store, clock, notifier, registry)
    clock.advance(2.5)
    assert asyncio.run(run.run_once()) == 1
    assert asyncio.run(run.run_once()) == 0
    (sent,) = notifier.sent
    (row,) = store.notifications()
    assert sent.notification == notification("g1", 1)
    assert sent.notification_id == row.notification_id and row.status is OutboxStatus.delivered
    delivered = {"receiver": "team", "outcome": "delivered"}
    assert sample(registry, "safeship_notifications_total", **delivered) == 1
    assert sample(registry, "safeship_notification_latency_seconds_sum", receiver="team") == 2.5
    assert sample(registry, "safeship_notification_queue_depth", receiver="team") == 0


def test_a_failing_receiver_is_retried_with_backoff_until_it_answers(
    store: Store, clock: FakeClock
) -> None:
    registry, notifier = CollectorRegistry(), Scripted(SendFailed("HTTP 503"), SendFailed("x"))
    Outbox(store, {"team": TEAM}).submit([notification("g1", 1)])
    run = worker(store, clock, notifier, registry)
    assert asyncio.run(run.run_once()) == 1  # fails: back in about 10 s
    assert sample(registry, "safeship_notification_queue_depth", receiver="team") == 1
    clock.advance(9.9)
    assert asyncio.run(run.run_once()) == 0
    clock.advance(0.1)
    assert asyncio.run(run.run_once()) == 1  # fails again: back in about 20 s
    clock.advance(20)
    assert asyncio.run(run.run_once()) == 1
    assert len(notifier.sent) == 1
    retried = {"receiver": "team", "outcome": "retried"}
    assert sample(registry, "safeship_notifications_total", **retried) == 2
    (row,) = store.notifications()
    assert (row.status, row.attempts, row.last_error) == (OutboxStatus.delivered, 3, "x")


def test_after_max_attempts_the_notification_is_dead_and_the_next_of_its_group_goes(
    store: Store, clock: FakeClock
) -> None:
    registry = CollectorRegistry()
    notifier = Scripted(*(SendFailed("HTTP 503") for _ in range(3)))
    Outbox(store, {"team": TEAM}).submit([notification("g1", 1), notification("g1", 2)])
    run = worker(store, clock, notifier, registry)
    for _ in range(3):
        assert asyncio.run(run.run_once()) == 1
        assert notifier.sent == []  # sequence 2 waits behind sequence 1
        clock.advance(100)
    assert asyncio.run(run.run_once()) == 1
    assert [d.notification.sequence for d in notifier.sent] == [2]
    dead, delivered = store.notifications()
    assert dead.status is OutboxStatus.dead
    assert dead.last_error == "too many failed attempts: HTTP 503"
    assert delivered.status is OutboxStatus.delivered
    outcome = {"receiver": "team", "outcome": "dead"}
    assert sample(registry, "safeship_notifications_total", **outcome) == 1


def test_a_refusal_is_dead_at_once(store: Store, clock: FakeClock) -> None:
    notifier = Scripted(SendFailed("HTTP 400: bad payload", retryable=False))
    Outbox(store, {"team": TEAM}).submit([notification("g1", 1)])
    asyncio.run(worker(store, clock, notifier, CollectorRegistry()).run_once())
    (row,) = store.notifications()
    assert (row.status, row.attempts) == (OutboxStatus.dead, 1)
    assert row.last_error == "the receiver refused it: HTTP 400: bad payload"


def test_a_notification_for_an_unknown_receiver_is_kept_as_a_dead_letter(store: Store) -> None:
    Outbox(store, {"team": TEAM}).submit([notification("g1", 1, receiver="nobody")])
    (row,) = store.notifications(status=OutboxStatus.dead)
    assert row.receiver == "nobody" and "no receiver named 'nobody'" in (row.last_error or "")


def test_a_row_whose_integration_left_the_configuration_is_dead(
    store: Store, clock: FakeClock
) -> None:
    two = Receiver.model_validate(
        {"name": "team", "webhook_configs": [{"url": "http://x/"}, {"url": "http://y/"}]}
    )
    Outbox(store, {"team": two}).submit([notification("g1", 1)])
    asyncio.run(worker(store, clock, Scripted(), CollectorRegistry()).run_once())
    statuses = {r.integration: r.status for r in store.notifications()}
    assert statuses == {
        "webhook_configs[0]": OutboxStatus.delivered,
        "webhook_configs[1]": OutboxStatus.dead,
    }


def test_the_worker_forgets_old_deliveries_once_per_prune_interval(
    store: Store, clock: FakeClock
) -> None:
    settings = DeliverySettings(keep_s=1000, prune_every_s=60)
    notifiers = {("team", "webhook_configs[0]"): Scripted()}
    run = DeliveryWorker(
        store, notifiers, clock=clock, registry=CollectorRegistry(), settings=settings
    )
    Outbox(store, {"team": TEAM}).submit([notification("g1", 1)])
    asyncio.run(run.run_once())
    clock.advance(990)
    asyncio.run(run.prune())  # delivered 990 s ago: kept
    assert len(store.notifications()) == 1
    clock.advance(20)
    asyncio.run(run.prune())  # old enough, but pruned less than prune_every_s ago
    assert len(store.notifications()) == 1
    clock.advance(40)
    asyncio.run(run.prune())
    assert store.notifications() == []


def test_the_worker_outlives_a_failing_database(
    store: Store, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    notifier = Signalling()
    Outbox(store, {"team": TEAM}).submit([notification("g1", 1)])
    claim = store.claim_notifications
    failures = [OperationalError("SELECT", {}, Exception("server closed the connection"))]

    def flaky(*, limit: int, hold_s: float) -> list[OutboxRow]:
        if failures:
            raise failures.pop()
        return claim(limit=limit, hold_s=hold_s)

    monkeypatch.setattr(store, "claim_notifications", flaky)
    settings = DeliverySettings(poll_s=0.01)
    notifiers = {("team", "webhook_configs[0]"): notifier}
    run = DeliveryWorker(
        store, notifiers, clock=clock, registry=CollectorRegistry(), settings=settings
    )

    async def until_sent() -> None:
        task = asyncio.create_task(run.run())
        await notifier.done.wait()
        task.cancel()

    asyncio.run(asyncio.wait_for(until_sent(), timeout=10))
    assert failures == [] and len(notifier.sent) == 1
