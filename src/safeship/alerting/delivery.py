"""Delivery: notifications into the outbox, and out of it to the receivers, never lost.

Where it sits: "routes ─▶ notifications" (DESIGN §2), at the edge. `Outbox.submit` (the
routing's `NotificationSink`) persists every notification, one row per integration of its
receiver, in one transaction before anything is sent. `DeliveryWorker` claims due rows,
sends each through its notifier, and records the outcomes of the batch in one transaction:
delivered, retried later (alerting/delivery_policy.py decides when) or dead. Delivery is
at-least-once: a worker killed between sending and recording sends again after the claim's
hold ends, with the same `X-Safeship-Notification-Id`, so a receiver that de-duplicates on
it sees each notification exactly once.

Metrics (registry passed in): `safeship_notifications_total{receiver,outcome}` (outcome
delivered, retried, dead), `safeship_notification_queue_depth{receiver}` (pending rows) and
`safeship_notification_latency_seconds{receiver}` (submitted to delivered).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import random
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from sqlalchemy.exc import SQLAlchemyError

from safeship.alerting.delivery_policy import GiveUp, RetryPolicy, after_failure, plan
from safeship.alerting.notification import Notification
from safeship.alerting.notifiers import Delivery, Notifier, SendFailed
from safeship.alerting.payloads import from_document, to_document
from safeship.alerting.receivers import Receiver
from safeship.core.clock import Clock
from safeship.core.secrets import scrub
from safeship.store.notification_log import LogRecord
from safeship.store.outbox import OutboxEntry, OutboxRow
from safeship.store.repository import Store

log = logging.getLogger(__name__)
LATENCY_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600)


class Outbox:
    """The routing's `NotificationSink`: notifications persisted before anything is sent."""

    def __init__(
        self,
        store: Store,
        receivers: Mapping[str, Receiver],
        *,
        wake: Callable[[], None] | None = None,
        journal: Callable[[Sequence[Notification]], Sequence[LogRecord]] | None = None,
    ) -> None:
        self._store = store
        self._receivers = receivers
        self._wake = wake
        self._journal = journal

    def submit(self, notifications: Sequence[Notification]) -> None:
        """All of `notifications` in one transaction, with their notification log entries
        (`journal`: the dispatcher's) when given; one submitted before is skipped."""
        entries = [entry for n in notifications for entry in self.entries(n)]
        with self._store.transaction() as tx:
            tx.submit_notifications(entries)
            if self._journal is not None:
                tx.save_notification_log(self._journal(notifications))
        if self._wake is not None:
            self._wake()

    def entries(self, notification: Notification) -> list[OutboxEntry]:
        """The rows of one notification: one per integration of its receiver. For a caller
        that persists its own state with them: `tx.submit_notifications(entries)`."""
        receiver = self._receivers.get(notification.receiver)
        if receiver is None:  # kept, dead, where `notifications list` shows it
            reason = f"no receiver named {notification.receiver!r} in the configuration"
            return [_entry(notification, "", dead_reason=reason)]
        return [_entry(p.notification, p.integration) for p in plan(receiver, notification)]


def _entry(
    notification: Notification, integration: str, *, dead_reason: str | None = None
) -> OutboxEntry:
    return OutboxEntry(
        receiver=notification.receiver,
        integration=integration,
        group_key=notification.group_key,
        sequence=notification.sequence,
        payload=to_document(notification),
        dead_reason=dead_reason,
    )


@dataclass(frozen=True)
class Outcome:
    """How one attempt went, recorded with the rest of its batch."""

    row: OutboxRow
    kind: Literal["delivered", "retried", "dead"]
    error: str = ""
    retry_at: float | None = None
    latency: float = 0.0


@dataclass(frozen=True, kw_only=True)
class DeliverySettings:
    """How the worker claims and retries. `hold_s` must exceed the longest send timeout: a
    claimed row is claimed again only after it, when its worker is taken to be dead."""

    policy: RetryPolicy = field(default_factory=RetryPolicy)
    batch: int = 50
    concurrency: int = 8
    poll_s: float = 1.0
    hold_s: float = 60.0
    keep_s: float = 7 * 24 * 3600.0  # delivered notifications are forgotten after this
    prune_every_s: float = 3600.0


class DeliveryMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.sent = Counter(
            "safeship_notifications",
            "Notification attempts by outcome: delivered, retried (failed, tried again), dead.",
            ["receiver", "outcome"],
            registry=registry,
        )
        self.depth = Gauge(
            "safeship_notification_queue_depth",
            "Notifications persisted and not yet delivered or dead.",
            ["receiver"],
            registry=registry,
        )
        self.latency = Histogram(
            "safeship_notification_latency_seconds",
            "Time from a notification's submission to its delivery.",
            ["receiver"],
            buckets=LATENCY_BUCKETS,
            registry=registry,
        )


class DeliveryWorker:
    """Claims due outbox rows and delivers them until cancelled."""

    def __init__(
        self,
        store: Store,
        notifiers: Mapping[tuple[str, str], Notifier],
        *,
        clock: Clock,
        registry: CollectorRegistry,
        settings: DeliverySettings | None = None,
        jitter: Callable[[], float] = random.random,
    ) -> None:
        self._store = store
        self._notifiers = notifiers
        self._clock = clock
        self._settings = settings or DeliverySettings()
        self._jitter = jitter
        self._metrics = DeliveryMetrics(registry)
        self._wake = asyncio.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._receivers = sorted({receiver for receiver, _ in notifiers})
        self._pruned_at = -math.inf

    def wake(self) -> None:
        """Look for due rows now (something was submitted); from any thread."""
        if self._loop is None:
            self._wake.set()
        else:
            self._loop.call_soon_threadsafe(self._wake.set)

    async def run(self) -> None:
        """Deliver until cancelled; the state database failing (a PostgreSQL restart) pauses
        delivery for `poll_s`, it does not end it."""
        self._loop = asyncio.get_running_loop()
        try:
            while True:
                try:
                    if await self.run_once() == 0:
                        await self.prune()
                        await self._idle()
                except SQLAlchemyError as exc:
                    log.warning("the outbox is unreachable, trying again: %s", scrub(str(exc)))
                    await asyncio.sleep(self._settings.poll_s)
        finally:
            self._loop = None
            await self.aclose()

    async def prune(self) -> None:
        """Forget notifications delivered more than `keep_s` ago, once per `prune_every_s`."""
        now = self._clock.now()
        if now - self._pruned_at >= self._settings.prune_every_s:
            before = now - self._settings.keep_s
            await asyncio.to_thread(self._store.prune_notifications, before=before)
            self._pruned_at = now

    async def aclose(self) -> None:
        for notifier in self._notifiers.values():
            await notifier.aclose()

    async def run_once(self) -> int:
        """Claim one batch of due rows, deliver them, and record every outcome in one
        transaction; how many were claimed."""
        settings = self._settings
        rows = await asyncio.to_thread(
            self._store.claim_notifications, limit=settings.batch, hold_s=settings.hold_s
        )
        slots = asyncio.Semaphore(settings.concurrency)

        async def one(row: OutboxRow) -> Outcome:
            async with slots:
                return await self._deliver(row)

        outcomes = await asyncio.gather(*(one(row) for row in rows))
        if outcomes:
            await asyncio.to_thread(self._record, outcomes)
        for outcome in outcomes:
            self._count(outcome)
        await self._count_depth()
        return len(rows)

    async def _idle(self) -> None:
        due = await asyncio.to_thread(self._store.next_notification_due)
        wait = self._settings.poll_s
        if due is not None:
            wait = min(wait, max(0.0, due - self._clock.now()))
        self._wake.clear()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._wake.wait(), timeout=wait)

    async def _deliver(self, row: OutboxRow) -> Outcome:
        notifier = self._notifiers.get((row.receiver, row.integration))
        if notifier is None:
            missing = f"{row.receiver} has no {row.integration} in the configuration any more"
            return self._failed(row, SendFailed(missing, retryable=False))
        try:
            await notifier.send(Delivery(from_document(row.payload), row.notification_id))
        except SendFailed as exc:
            return self._failed(row, exc)
        except Exception as exc:  # a notifier's bug must not stop delivery to the others
            log.exception("notifier of %s/%s failed", row.receiver, row.integration)
            return self._failed(row, SendFailed(f"{type(exc).__name__}: {exc}"))
        return Outcome(row, "delivered", latency=max(0.0, self._clock.now() - row.created_at))

    def _failed(self, row: OutboxRow, exc: SendFailed) -> Outcome:
        decision = after_failure(
            attempts=row.attempts,
            created_at=row.created_at,
            now=self._clock.now(),
            retryable=exc.retryable,
            policy=self._settings.policy,
            jitter=self._jitter(),
        )
        if isinstance(decision, GiveUp):
            outcome = Outcome(row, "dead", error=scrub(f"{decision.reason}: {exc}"))
        else:
            outcome = Outcome(row, "retried", error=scrub(str(exc)), retry_at=decision.at)
        log.warning(
            "notification %s to %s/%s (attempt %d) %s: %s",
            row.id,
            row.receiver,
            row.integration,
            row.attempts,
            "dead-lettered" if outcome.kind == "dead" else "will be retried",
            outcome.error,
        )
        return outcome

    def _record(self, outcomes: Sequence[Outcome]) -> None:
        with self._store.transaction() as tx:
            for outcome in outcomes:
                if outcome.kind == "delivered":
                    tx.notification_delivered(outcome.row.id)
                else:
                    error = outcome.error
                    tx.notification_failed(outcome.row.id, error=error, retry_at=outcome.retry_at)

    def _count(self, outcome: Outcome) -> None:
        receiver = outcome.row.receiver
        self._metrics.sent.labels(receiver, outcome.kind).inc()
        if outcome.kind == "delivered":
            self._metrics.latency.labels(receiver).observe(outcome.latency)

    async def _count_depth(self) -> None:
        depth = await asyncio.to_thread(self._store.notification_depth)
        for receiver in {*self._receivers, *depth}:
            self._metrics.depth.labels(receiver).set(depth.get(receiver, 0))
