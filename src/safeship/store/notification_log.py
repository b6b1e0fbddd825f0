"""The notification log as rows: per alert group key, the last sequence notified, the alert
fingerprints told firing and resolved, and when (Alertmanager's nflog, kept in the state
database instead of a local file).

Where it sits: "routes ─▶ notifications" (DESIGN §2). The dispatcher's aggregation state
lives in memory; this is the part of it that must survive a restart: without it sequences
restart at 1 (and the outbox drops the new notifications as duplicates of old ones) and
`repeat_interval` restarts. Plain functions over a `Connection`, composed by `Transaction`.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from safeship.store.schema import notification_log
from safeship.store.upsert import upsert


@dataclass(frozen=True, kw_only=True)
class LogRecord:
    group_key: str
    sequence: int
    firing: tuple[str, ...]
    resolved: tuple[str, ...]
    at_ms: int


def _hash(group_key: str) -> str:
    return hashlib.sha256(group_key.encode()).hexdigest()


def save(conn: Connection, records: Iterable[LogRecord]) -> None:
    """Insert or overwrite each group's entry."""
    for r in records:
        values = {
            "key_hash": _hash(r.group_key),
            "group_key": r.group_key,
            "sequence": r.sequence,
            "firing": sorted(r.firing),
            "resolved": sorted(r.resolved),
            "at_ms": r.at_ms,
        }
        upsert(conn, notification_log, values, key="key_hash")


def load(conn: Connection, *, since_ms: int) -> list[LogRecord]:
    """Every entry written at or after `since_ms` (older ones are past retention)."""
    rows = conn.execute(sa.select(notification_log).where(notification_log.c.at_ms >= since_ms))
    return [
        LogRecord(
            group_key=row.group_key,
            sequence=row.sequence,
            firing=tuple(row.firing),
            resolved=tuple(row.resolved),
            at_ms=row.at_ms,
        )
        for row in rows
    ]


def prune(conn: Connection, *, before_ms: int) -> int:
    """Forget entries written before `before_ms`; how many."""
    done = conn.execute(sa.delete(notification_log).where(notification_log.c.at_ms < before_ms))
    return done.rowcount or 0
