"""Silences as rows: insert or overwrite one, read one, list them. Plain functions over a
`Connection`, composed by `Transaction` (which audits every change).

Matchers are stored as the text Alertmanager writes (`severity="page"`); alerting/silences.py
parses and checks them before they get here and after they are read back.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from safeship.store.schema import silences


@dataclass(frozen=True, kw_only=True)
class SilenceRecord:
    id: str
    matchers: tuple[str, ...]
    starts_at: float
    ends_at: float
    created_by: str
    comment: str
    updated_at: float


def save(conn: Connection, record: SilenceRecord) -> None:
    """Insert the silence, or overwrite the one with its id."""
    values = {**asdict(record), "matchers": list(record.matchers)}
    conn.execute(sa.delete(silences).where(silences.c.id == record.id))
    conn.execute(sa.insert(silences).values(**values))


def get(conn: Connection, silence_id: str) -> SilenceRecord | None:
    row = conn.execute(sa.select(silences).where(silences.c.id == silence_id)).first()
    return _record(row) if row is not None else None


def listing(conn: Connection, *, ended_after: float | None = None) -> list[SilenceRecord]:
    """Oldest start first; with `ended_after`, only silences ending after it."""
    query = sa.select(silences).order_by(silences.c.starts_at, silences.c.id)
    if ended_after is not None:
        query = query.where(silences.c.ends_at > ended_after)
    return [_record(row) for row in conn.execute(query)]


def _record(row: sa.Row[object]) -> SilenceRecord:
    values = row._asdict()
    return SilenceRecord(**{**values, "matchers": tuple(values["matchers"])})
