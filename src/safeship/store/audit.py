"""The audit log as rows: append under the chain lock, sign checkpoints, read back, verify.

Append-only by construction: this module offers no update or delete, and the database's
triggers refuse them (migration 0005). Every `CHECKPOINT_EVERY` entries, and whenever a
caller asks (a rollout ends), the chain head is signed with the audit key.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from safeship.core.secrets import redact, scrub
from safeship.store.chain import (
    GENESIS_HASH,
    canonical_json,
    checkpoint_problem,
    entry_hash,
    sign,
    verify_chain,
)
from safeship.store.locks import AUDIT_LOCK_KEY
from safeship.store.records import (
    AuditEntry,
    AuditVerification,
    Checkpoint,
    RolloutRecord,
    Tampering,
)
from safeship.store.schema import audit, audit_checkpoints, rollouts

VERIFY_BATCH = 1000
CHECKPOINT_EVERY = 64  # entries between two signed checkpoints, at most


def append(
    conn: Connection,
    *,
    ts: float,
    actor: str,
    action: str,
    reason: str,
    rollout_id: str | None,
    service: str | None,
    details: Mapping[str, Any] | None,
) -> AuditEntry:
    """Chain a new entry after the last one; secrets are redacted before hashing."""
    last_id, prev_hash = _lock_and_read_tail(conn)
    fields: dict[str, Any] = {
        "id": last_id + 1,
        "ts": float(ts),
        "actor": scrub(actor),
        "action": scrub(action),
        "rollout_id": rollout_id,
        "service": service,
        "reason": scrub(reason),
        # Round-trip through JSON so what is hashed is exactly what is read back later.
        "details": json.loads(canonical_json(redact(details or {}))),
        "prev_hash": prev_hash,
    }
    entry = AuditEntry(**fields, hash=entry_hash(**fields))
    conn.execute(sa.insert(audit).values(_entry_to_row(entry)))
    return entry


def _lock_and_read_tail(conn: Connection) -> tuple[int, str]:
    # SQLite writers already hold the database lock (BEGIN IMMEDIATE); PostgreSQL writers
    # serialise on an advisory lock held until commit, so no two read the same tail.
    if conn.dialect.name == "postgresql":
        conn.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": AUDIT_LOCK_KEY})
    query = sa.select(audit.c.id, audit.c.hash).order_by(audit.c.id.desc()).limit(1)
    row = conn.execute(query).first()
    return (row.id, row.hash) if row is not None else (0, GENESIS_HASH)


def _entry_to_row(entry: AuditEntry) -> dict[str, Any]:
    return {
        "id": entry.id,
        "ts": entry.ts,
        "actor": entry.actor,
        "action": entry.action,
        "rollout_id": entry.rollout_id,
        "service": entry.service,
        "reason": entry.reason,
        "details": canonical_json(entry.details),
        "prev_hash": entry.prev_hash,
        "hash": entry.hash,
    }


def _row_to_entry(row: sa.Row[Any]) -> AuditEntry:
    values = row._asdict()
    values["details"] = _parse_details(values["details"])
    return AuditEntry(**values)


def _parse_details(text: str) -> Mapping[str, Any]:
    # A hand-edited row may hold anything; keep it as a value so verify reports it, not crashes.
    try:
        parsed = json.loads(text)
    except ValueError:
        return {"__unparseable__": text}
    return parsed if isinstance(parsed, dict) else {"__not_an_object__": parsed}


def entries(conn: Connection, *, rollout_id: str | None, limit: int | None) -> list[AuditEntry]:
    """Oldest first; with `limit`, the newest `limit` entries (still oldest first)."""
    query = sa.select(audit).order_by(audit.c.id.desc())
    if rollout_id is not None:
        query = query.where(audit.c.rollout_id == rollout_id)
    if limit is not None:
        query = query.limit(limit)
    return [_row_to_entry(row) for row in reversed(conn.execute(query).all())]


def iter_all(conn: Connection, *, batch: int = VERIFY_BATCH) -> Iterator[AuditEntry]:
    """Every entry in id order, fetched in batches so a long log does not fill memory."""
    after = 0
    while True:
        query = sa.select(audit).where(audit.c.id > after).order_by(audit.c.id).limit(batch)
        rows = conn.execute(query).all()
        yield from (_row_to_entry(row) for row in rows)
        if len(rows) < batch:
            return
        after = rows[-1].id


def checkpoint(conn: Connection, *, key: bytes, ts: float) -> Checkpoint | None:
    """Sign the chain head, unless the newest checkpoint already covers it."""
    last_id, head_hash = _lock_and_read_tail(conn)
    newest = checkpoints(conn)[-1:]
    if last_id == 0 or (newest and newest[0].entry_id == last_id):
        return None
    signed = Checkpoint(
        id=newest[0].id + 1 if newest else 1,
        ts=float(ts),
        entry_id=last_id,
        head_hash=head_hash,
        signature=sign(key, entry_id=last_id, head_hash=head_hash),
    )
    conn.execute(sa.insert(audit_checkpoints).values(signed.as_dict()))
    return signed


def checkpoints(conn: Connection) -> list[Checkpoint]:
    rows = conn.execute(sa.select(audit_checkpoints).order_by(audit_checkpoints.c.id)).all()
    return [Checkpoint(**row._asdict()) for row in rows]


def genesis_hash(conn: Connection) -> str | None:
    """The hash of the first entry: names this chain (for its head file outside the database)."""
    return conn.execute(sa.select(audit.c.hash).where(audit.c.id == 1)).scalar()


def verify(conn: Connection, *, key: bytes | None, head: Checkpoint | None) -> AuditVerification:
    """The chain, then every signed checkpoint, then the head kept outside the database."""
    stored = checkpoints(conn)
    signed = [*stored, *([head] if head is not None else [])]
    walk = verify_chain(iter_all(conn), keep={c.entry_id for c in signed})
    if not walk.result.ok:
        return walk.result
    checked = walk.result.checked
    if signed and key is None:
        return _broken(checked, Tampering.NO_KEY, "signed checkpoints exist but no audit key")
    for one in signed:
        assert key is not None
        if found := checkpoint_problem(one, key, walk):
            return _broken(checked, *found, broken_id=one.entry_id)
    if missing := _missing_checkpoints(stored, head, checked):
        return _broken(checked, Tampering.CHECKPOINTS_DELETED, missing)
    rows = conn.execute(sa.select(rollouts)).all()
    for row in rows:
        if (edited := _edited(row, walk.shown.get(row.id))) is not None:
            return _broken(checked, Tampering.ROLLOUT_EDITED, edited)
    return AuditVerification(
        ok=True,
        checked=checked,
        checkpoints=len(signed),
        rollouts=len(rows),
        uncovered=sum(1 for row in rows if row.id not in walk.shown),
    )


def _edited(row: sa.Row[Any], recorded: Mapping[str, Any] | None) -> str | None:
    """How rollout `row` differs from the state the chain last recorded for it, if it does."""
    if recorded is None:
        return None  # written before rollout states were chained: nothing to compare
    shown = RolloutRecord(**row._asdict()).shown()
    changed = [key for key, value in shown.items() if recorded.get(key) != value]
    if not changed:
        return None
    return f"rollout {row.id}: {', '.join(changed)} differ from what the audit chain recorded"


def _missing_checkpoints(stored: list[Checkpoint], head: Checkpoint | None, entries: int) -> str:
    if [c.id for c in stored] != list(range(1, len(stored) + 1)):
        return "signed checkpoints were deleted (their numbers have gaps)"
    if head is not None and head.id > len(stored):
        return f"signed checkpoints after {len(stored)} were deleted (the head file has {head.id})"
    if not stored and entries >= CHECKPOINT_EVERY:
        return f"no signed checkpoint, though {entries} entries exist: checkpoints were deleted"
    return ""


def _broken(
    checked: int, tampering: Tampering, problem: str, *, broken_id: int | None = None
) -> AuditVerification:
    return AuditVerification(
        ok=False, checked=checked, broken_id=broken_id, problem=problem, tampering=tampering
    )
