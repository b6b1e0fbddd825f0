"""Rollout request rows: what a person asked a running rollout to do, until it is handled.

Plain functions over a `Connection`, composed inside one transaction by `Transaction`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from safeship.store.records import RequestRecord
from safeship.store.schema import rollout_requests


def add(
    conn: Connection,
    *,
    rollout_id: str,
    kind: str,
    actor: str,
    reason: str,
    options: Mapping[str, Any],
    now: float,
) -> int:
    values = {
        "rollout_id": rollout_id,
        "kind": kind,
        "actor": actor,
        "reason": reason,
        "options": dict(options),
        "created_at": now,
    }
    result = conn.execute(sa.insert(rollout_requests).values(**values))
    key = result.inserted_primary_key
    assert key is not None
    return int(key[0])


def pending(conn: Connection, rollout_id: str) -> list[RequestRecord]:
    """Requests not yet handled, oldest first."""
    query = (
        sa.select(rollout_requests)
        .where(rollout_requests.c.rollout_id == rollout_id, rollout_requests.c.handled_at.is_(None))
        .order_by(rollout_requests.c.id)
    )
    return [RequestRecord(**row._asdict()) for row in conn.execute(query)]


def mark_handled(conn: Connection, ids: Sequence[int], *, now: float) -> None:
    if ids:
        query = sa.update(rollout_requests).where(rollout_requests.c.id.in_(list(ids)))
        conn.execute(query.values(handled_at=now))
