"""The notification outbox rows: a notification is persisted before anything is sent.

Where it sits: "routes ─▶ notifications" (DESIGN §2) ends here, and the delivery worker
(alerting/delivery.py) starts here. Submitting writes one row per (receiver, integration,
group key, sequence) in the caller's transaction; the same notification submitted again
inserts nothing (`notification_id`, a hash of those four, is unique). The worker claims due
rows, sends them, and marks each delivered, retried later or dead.

A claim counts an attempt and moves the row's `next_attempt_at` past the send timeout, so a
worker killed mid-send leaves the row to be claimed again then: delivery is at-least-once,
and a retry carries the same `notification_id`. Within one stream (receiver, integration,
group key) only the lowest pending sequence is claimable: a group's notifications reach its
receiver in order, a later flush never overtakes an earlier one that is still retrying.
On PostgreSQL claims skip rows another worker holds locked (`FOR UPDATE SKIP LOCKED`);
SQLite's write transactions are serial already.

Plain functions over a `Connection`, composed by `Transaction`.
"""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from safeship.core.errors import Conflict, NotFound
from safeship.core.secrets import scrub
from safeship.store.schema import notification_outbox as outbox
from safeship.store.upsert import dialect_insert

MAX_ERROR_CHARS = 2000
MAX_ID = 2**31 - 1  # ids are INTEGER: a larger one names no row (and overflows the driver)


class OutboxStatus(StrEnum):
    pending = "pending"
    delivered = "delivered"
    dead = "dead"


@dataclass(frozen=True, kw_only=True)
class OutboxEntry:
    """A notification to one integration of one receiver, as submitted."""

    receiver: str
    integration: str
    group_key: str
    sequence: int
    payload: Mapping[str, Any]
    dead_reason: str | None = None  # set: stored dead at once (e.g. no such receiver)

    @property
    def stream(self) -> str:
        return _digest(self.receiver, self.integration, self.group_key)

    @property
    def notification_id(self) -> str:
        """The idempotency identity a receiver de-duplicates on; the same on every retry."""
        return _digest(self.stream, str(self.sequence))


@dataclass(frozen=True, kw_only=True)
class OutboxRow:
    """One outbox row as read back."""

    id: int
    notification_id: str
    receiver: str
    integration: str
    group_key: str
    sequence: int
    payload: Mapping[str, Any]
    status: OutboxStatus
    attempts: int
    next_attempt_at: float
    last_error: str | None
    created_at: float
    delivered_at: float | None


def _digest(*parts: str) -> str:
    return hashlib.sha256("\x00".join(parts).encode()).hexdigest()[:32]


def submit(conn: Connection, entries: Sequence[OutboxEntry], *, now: float) -> int:
    """Insert every entry not stored yet; returns how many were new."""
    inserted = 0
    for entry in entries:
        stmt = dialect_insert(conn, outbox).values(**_new_row(entry, now))
        stmt = stmt.on_conflict_do_nothing(index_elements=["notification_id"])
        inserted += len(conn.execute(stmt.returning(outbox.c.id)).all())
    return inserted


def _new_row(entry: OutboxEntry, now: float) -> dict[str, Any]:
    dead = entry.dead_reason is not None
    return {
        "notification_id": entry.notification_id,
        "stream": entry.stream,
        "receiver": entry.receiver,
        "integration": entry.integration,
        "group_key": entry.group_key,
        "sequence": entry.sequence,
        "payload": dict(entry.payload),
        "status": (OutboxStatus.dead if dead else OutboxStatus.pending).value,
        "attempts": 0,
        "next_attempt_at": now,
        "last_error": _clean(entry.dead_reason) if dead else None,
        "created_at": now,
    }


def claim(conn: Connection, *, now: float, limit: int, hold_s: float) -> list[OutboxRow]:
    """Up to `limit` due rows, each the lowest pending sequence of its stream, claimed for
    `hold_s` seconds (counted as an attempt): nobody claims them again before then."""
    query = (
        sa.select(outbox)
        .where(_head_of_stream(), outbox.c.next_attempt_at <= now)
        .order_by(outbox.c.next_attempt_at, outbox.c.id)
        .limit(limit)
    )
    if conn.dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True, of=outbox)
    rows = [_record(row) for row in conn.execute(query)]
    if rows:
        update = sa.update(outbox).where(outbox.c.id.in_([r.id for r in rows]))
        conn.execute(update.values(attempts=outbox.c.attempts + 1, next_attempt_at=now + hold_s))
    return [_claimed(r, now + hold_s) for r in rows]


def _head_of_stream() -> sa.ColumnElement[bool]:
    """Pending, and no lower sequence of its stream is: the next of its group to send."""
    earlier = outbox.alias("earlier")
    blocked = sa.exists().where(
        earlier.c.stream == outbox.c.stream,
        earlier.c.status == OutboxStatus.pending.value,
        earlier.c.sequence < outbox.c.sequence,
    )
    return sa.and_(outbox.c.status == OutboxStatus.pending.value, ~blocked)


def _claimed(row: OutboxRow, until: float) -> OutboxRow:
    return dataclasses.replace(row, attempts=row.attempts + 1, next_attempt_at=until)


def delivered(conn: Connection, row_id: int, *, now: float) -> None:
    """Mark a pending row delivered (a row made dead or delivered meanwhile stays as it is)."""
    query = sa.update(outbox).where(
        outbox.c.id == row_id, outbox.c.status == OutboxStatus.pending.value
    )
    conn.execute(query.values(status=OutboxStatus.delivered.value, delivered_at=now))


def failed(conn: Connection, row_id: int, *, error: str, retry_at: float | None) -> None:
    """Note a failed attempt: try again at `retry_at`, or give up (dead) when None."""
    values: dict[str, Any] = {"last_error": _clean(error)}
    if retry_at is None:
        values["status"] = OutboxStatus.dead.value
    else:
        values["next_attempt_at"] = retry_at
    query = sa.update(outbox).where(
        outbox.c.id == row_id, outbox.c.status == OutboxStatus.pending.value
    )
    conn.execute(query.values(**values))


def requeue(conn: Connection, row_id: int, *, now: float) -> OutboxRow:
    """Send a dead letter again from now, with a fresh count of attempts."""
    found = get(conn, row_id)
    if found is None:
        raise NotFound(f"no notification {row_id}; `safeship notifications list` shows them")
    if found.status is not OutboxStatus.dead:
        raise Conflict(f"notification {row_id} is {found.status}, not dead: nothing to retry")
    query = sa.update(outbox).where(outbox.c.id == row_id)
    conn.execute(query.values(status=OutboxStatus.pending.value, attempts=0, next_attempt_at=now))
    requeued = get(conn, row_id)
    assert requeued is not None
    return requeued


def prune(conn: Connection, *, before: float) -> int:
    """Forget notifications delivered before `before`; how many. Dead letters stay until
    retried: someone has to look at them."""
    query = sa.delete(outbox).where(
        outbox.c.status == OutboxStatus.delivered.value, outbox.c.delivered_at < before
    )
    return int(conn.execute(query).rowcount)


def get(conn: Connection, row_id: int) -> OutboxRow | None:
    if not 0 < row_id <= MAX_ID:
        return None
    row = conn.execute(sa.select(outbox).where(outbox.c.id == row_id)).first()
    return _record(row) if row is not None else None


def listing(
    conn: Connection, *, status: OutboxStatus | None = None, limit: int = 100
) -> list[OutboxRow]:
    """The newest `limit` rows (of one status when given), oldest first."""
    query = sa.select(outbox).order_by(outbox.c.id.desc()).limit(limit)
    if status is not None:
        query = query.where(outbox.c.status == status.value)
    return [_record(row) for row in reversed(conn.execute(query).all())]


def depth(conn: Connection) -> dict[str, int]:
    """Pending rows per receiver."""
    query = (
        sa.select(outbox.c.receiver, sa.func.count())
        .where(outbox.c.status == OutboxStatus.pending.value)
        .group_by(outbox.c.receiver)
    )
    return {receiver: int(count) for receiver, count in conn.execute(query)}


def next_due(conn: Connection) -> float | None:
    """When the next claim can find a row (a claimed one: when its hold ends); a row waiting
    behind an earlier one of its group is not due before that one is done."""
    query = sa.select(sa.func.min(outbox.c.next_attempt_at)).where(_head_of_stream())
    found = conn.execute(query).scalar()
    return float(found) if found is not None else None


def _clean(error: str | None) -> str:
    return scrub(error or "")[:MAX_ERROR_CHARS]


def _record(row: sa.Row[Any]) -> OutboxRow:
    values = row._asdict()
    values.pop("stream")
    return OutboxRow(**{**values, "status": OutboxStatus(values["status"])})
