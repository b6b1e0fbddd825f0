"""Rollout and service rows: the reconciler's persisted status and what each service runs.

Plain functions over a `Connection`, so a caller composes them inside one transaction.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from safeship.core.secrets import redact, scrub
from safeship.store.records import RolloutRecord
from safeship.store.schema import rollouts, services
from safeship.store.upsert import upsert


def record_to_row(record: RolloutRecord) -> dict[str, Any]:
    """The row for `record`, secrets masked: no spec, status or reason stores one."""
    return {
        "id": record.id,
        "service": record.service,
        "from_version": record.from_version,
        "to_version": record.to_version,
        "strategy": record.strategy,
        "actor": record.actor,
        "phase": record.phase,
        "created_at": record.created_at,
        "updated_at": record.updated_at,
        "finished_at": record.finished_at,
        "result": record.result,
        "reason": scrub(record.reason),
        "spec": redact(record.spec),
        "status": redact(record.status),
        "steps_hash": record.steps_hash,
    }


def row_to_record(row: sa.Row[Any]) -> RolloutRecord:
    return RolloutRecord(**row._asdict())


def save_rollout(conn: Connection, record: RolloutRecord) -> None:
    upsert(conn, rollouts, record_to_row(record), key="id")


def get_rollout(conn: Connection, rollout_id: str) -> RolloutRecord | None:
    row = conn.execute(sa.select(rollouts).where(rollouts.c.id == rollout_id)).first()
    return row_to_record(row) if row is not None else None


def list_rollouts(conn: Connection, *, service: str | None, limit: int) -> list[RolloutRecord]:
    """Newest first; ties (same created_at) broken by id so the order is stable."""
    query = sa.select(rollouts).order_by(rollouts.c.created_at.desc(), rollouts.c.id.desc())
    if service is not None:
        query = query.where(rollouts.c.service == service)
    return [row_to_record(row) for row in conn.execute(query.limit(limit))]


def active_rollout(conn: Connection, service: str) -> RolloutRecord | None:
    """The newest rollout of `service` that has not finished, if any."""
    query = (
        sa.select(rollouts)
        .where(rollouts.c.service == service, rollouts.c.finished_at.is_(None))
        .order_by(rollouts.c.created_at.desc(), rollouts.c.id.desc())
        .limit(1)
    )
    row = conn.execute(query).first()
    return row_to_record(row) if row is not None else None


def stable_version(conn: Connection, service: str) -> str | None:
    query = sa.select(services.c.stable_version).where(services.c.name == service)
    version: str | None = conn.execute(query).scalar_one_or_none()
    return version


def set_stable_version(conn: Connection, *, service: str, version: str, now: float) -> None:
    values = {"name": service, "stable_version": version, "updated_at": now}
    upsert(conn, services, values, key="name")


Cursor = tuple[float, str]  # (updated_at, id): where a reader of changes has got to


def changed_since(conn: Connection, after: Cursor | None, *, limit: int) -> list[RolloutRecord]:
    """Rollouts saved after `after` (all with None), oldest change first, at most `limit`."""
    query = sa.select(rollouts).order_by(rollouts.c.updated_at, rollouts.c.id).limit(limit)
    if after is not None:
        at, rollout_id = after
        query = query.where(
            sa.or_(
                rollouts.c.updated_at > at,
                sa.and_(rollouts.c.updated_at == at, rollouts.c.id > rollout_id),
            )
        )
    return [row_to_record(row) for row in conn.execute(query)]


def newest_change(conn: Connection) -> Cursor | None:
    """The cursor of the newest saved rollout: a reader starting now reads after it."""
    query = sa.select(rollouts.c.updated_at, rollouts.c.id)
    row = conn.execute(query.order_by(rollouts.c.updated_at.desc(), rollouts.c.id.desc())).first()
    return (row.updated_at, row.id) if row is not None else None
