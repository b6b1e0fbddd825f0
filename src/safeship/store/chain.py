"""The audit hash chain, pure: how an entry's hash is computed and how a chain is checked.

Each entry's hash covers its own fields and the previous entry's hash, so changing, removing
or reordering any stored entry breaks every hash after it.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from typing import Any

from safeship.store.records import AuditEntry, AuditVerification

GENESIS_HASH = "0" * 64


def canonical_json(value: Any) -> str:
    """One stable text for a JSON value: sorted keys, no spaces; unknown types as strings."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)


def entry_hash(
    *,
    id: int,
    ts: float,
    actor: str,
    action: str,
    rollout_id: str | None,
    service: str | None,
    reason: str,
    details: Mapping[str, Any],
    prev_hash: str,
) -> str:
    """sha256 hex of the canonical JSON of the entry's fields and its predecessor's hash."""
    payload = {
        "id": id,
        "ts": ts,
        "actor": actor,
        "action": action,
        "rollout_id": rollout_id,
        "service": service,
        "reason": reason,
        "details": details,
        "prev_hash": prev_hash,
    }
    return hashlib.sha256(canonical_json(payload).encode()).hexdigest()


def recompute(entry: AuditEntry) -> str:
    """The hash `entry` should carry given its stored fields."""
    return entry_hash(
        id=entry.id,
        ts=entry.ts,
        actor=entry.actor,
        action=entry.action,
        rollout_id=entry.rollout_id,
        service=entry.service,
        reason=entry.reason,
        details=entry.details,
        prev_hash=entry.prev_hash,
    )


def entry_problem(entry: AuditEntry, expected_prev: str) -> str | None:
    """Why `entry` does not fit after a predecessor whose hash is `expected_prev`, or None."""
    if entry.prev_hash != expected_prev:
        return "prev_hash does not match the previous entry's hash (entry removed or reordered)"
    if recompute(entry) != entry.hash:
        return "hash does not match the entry's contents (entry modified)"
    return None


def verify_chain(entries: Iterable[AuditEntry]) -> AuditVerification:
    """Walk `entries` in id order; stop at the first one that breaks the chain."""
    expected_prev, checked = GENESIS_HASH, 0
    for entry in entries:
        checked += 1
        problem = entry_problem(entry, expected_prev)
        if problem is not None:
            return AuditVerification(ok=False, checked=checked, broken_id=entry.id, problem=problem)
        expected_prev = entry.hash
    return AuditVerification(ok=True, checked=checked)
