"""The audit hash chain, pure: how an entry's hash is computed and how a chain is checked.

Each entry's hash covers its own fields and the previous entry's hash, so changing, removing
or reordering any stored entry breaks every hash after it. A chain that someone rebuilt
from scratch, or cut short, is still consistent: signed checkpoints (an HMAC of an entry's
id and hash, with a key kept outside the database) catch those.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Container, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from safeship.store.records import AuditEntry, AuditVerification, Checkpoint, Tampering

GENESIS_HASH = "0" * 64
ROLLOUT_STATE = "rollout"  # the details key under which an entry records a rollout's state


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


def entry_problem(entry: AuditEntry, expected_prev: str) -> tuple[Tampering, str] | None:
    """Why `entry` does not fit after a predecessor whose hash is `expected_prev`, or None."""
    if entry.prev_hash != expected_prev:
        return (
            Tampering.REMOVED_OR_REORDERED,
            "prev_hash does not match the previous entry's hash (entry removed or reordered)",
        )
    if recompute(entry) != entry.hash:
        return Tampering.EDITED, "hash does not match the entry's contents (entry modified)"
    return None


@dataclass(frozen=True)
class Walk:
    """What walking the chain found: the verdict, the last id, the hashes asked for."""

    result: AuditVerification
    last_id: int
    hashes: dict[int, str]
    shown: dict[str, Mapping[str, Any]]  # per rollout, the newest state the chain recorded


def verify_chain(entries: Iterable[AuditEntry], *, keep: Container[int] = ()) -> Walk:
    """Walk `entries` in id order; stop at the first one that breaks the chain.

    Keeps the hash of each entry whose id is in `keep` (the ones checkpoints signed), so a
    long log is checked in constant memory.
    """
    expected_prev, checked, last_id = GENESIS_HASH, 0, 0
    hashes: dict[int, str] = {}
    shown: dict[str, Mapping[str, Any]] = {}
    for entry in entries:
        checked += 1
        found = entry_problem(entry, expected_prev)
        if found is not None:
            tampering, problem = found
            broken = AuditVerification(
                ok=False, checked=checked, broken_id=entry.id, problem=problem, tampering=tampering
            )
            return Walk(broken, last_id, hashes, shown)
        expected_prev, last_id = entry.hash, entry.id
        if entry.id in keep:
            hashes[entry.id] = entry.hash
        state = entry.details.get(ROLLOUT_STATE)
        if entry.rollout_id is not None and isinstance(state, Mapping):
            shown[entry.rollout_id] = state
    return Walk(AuditVerification(ok=True, checked=checked), last_id, hashes, shown)


def sign(key: bytes, *, entry_id: int, head_hash: str) -> str:
    """The checkpoint signature of chain head (`entry_id`, `head_hash`)."""
    message = f"safeship-audit-checkpoint:v1:{entry_id}:{head_hash}".encode()
    return hmac.new(key, message, hashlib.sha256).hexdigest()


def checkpoint_problem(
    checkpoint: Checkpoint, key: bytes, walk: Walk
) -> tuple[Tampering, str] | None:
    """Why `checkpoint` does not vouch for the walked chain, or None."""
    expected = sign(key, entry_id=checkpoint.entry_id, head_hash=checkpoint.head_hash)
    if not hmac.compare_digest(expected, checkpoint.signature):
        return Tampering.FORGED_CHECKPOINT, (
            f"checkpoint {checkpoint.id} is not signed by the audit key (forged or altered)"
        )
    if checkpoint.entry_id > walk.last_id:
        return Tampering.TRUNCATED, (
            f"checkpoint {checkpoint.id} signed entry {checkpoint.entry_id}, but the log ends "
            f"at entry {walk.last_id}: entries were deleted"
        )
    if walk.hashes.get(checkpoint.entry_id) != checkpoint.head_hash:
        return Tampering.REWRITTEN, (
            f"entry {checkpoint.entry_id} is not the one checkpoint {checkpoint.id} signed: "
            "the chain was rewritten"
        )
    return None
