"""What the store hands back and takes in: plain frozen records, free of SQLAlchemy.

The reconciler builds a `RolloutRecord` from its planner status and saves it; the audit log
hands out `AuditEntry`s; `verify_audit` answers with an `AuditVerification`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Literal, get_args

RolloutResult = Literal["promoted", "rolled_back", "aborted", "failed"]
ROLLOUT_RESULTS: tuple[str, ...] = get_args(RolloutResult)


@dataclass(frozen=True, kw_only=True)
class RolloutRecord:
    """One rollout as persisted: identity, progress and the planner's serialised status."""

    id: str
    service: str
    to_version: str
    strategy: str
    actor: str
    phase: str
    created_at: float
    updated_at: float
    from_version: str | None = None
    finished_at: float | None = None
    result: RolloutResult | None = None
    reason: str = ""
    spec: Mapping[str, Any] = field(default_factory=dict)
    status: Mapping[str, Any] = field(default_factory=dict)
    steps_hash: str = ""

    def __post_init__(self) -> None:
        # A typo here would silently break "list rolled-back rollouts"; refuse it early.
        if self.result is not None and self.result not in ROLLOUT_RESULTS:
            expected = ", ".join(ROLLOUT_RESULTS)
            raise ValueError(f"rollout result must be one of {expected}, found {self.result!r}")

    @property
    def finished(self) -> bool:
        return self.finished_at is not None

    def shown(self) -> dict[str, Any]:
        """What `audit list` shows of this rollout: the chain records it (journal.py), so
        `audit verify` notices a row edited behind the chain's back."""
        return {
            "from_version": self.from_version,
            "to_version": self.to_version,
            "phase": self.phase,
            "result": self.result,
            "reason": self.reason,
        }

    def duration(self, now: float) -> float:
        """Seconds from creation to finish, or to `now` while still running."""
        end = self.finished_at if self.finished_at is not None else now
        return max(0.0, end - self.created_at)


@dataclass(frozen=True, kw_only=True)
class AuditEntry:
    """One append-only audit record; `hash` chains it to the entry before it."""

    id: int
    ts: float
    actor: str
    action: str
    rollout_id: str | None
    service: str | None
    reason: str
    details: Mapping[str, Any]
    prev_hash: str
    hash: str


@dataclass(frozen=True, kw_only=True)
class Checkpoint:
    """A signed chain head: entry `entry_id` carried `head_hash` when the key signed it."""

    id: int
    ts: float
    entry_id: int
    head_hash: str
    signature: str

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


class Tampering(StrEnum):
    """What `audit verify` found, so a reader knows what kind of change was made."""

    EDITED = "edited"  # an entry's contents no longer match its hash
    REMOVED_OR_REORDERED = "removed-or-reordered"  # a link of the chain is missing or moved
    TRUNCATED = "truncated"  # entries after a signed checkpoint are gone
    REWRITTEN = "rewritten"  # the chain is consistent but not the one that was signed
    FORGED_CHECKPOINT = "forged-checkpoint"  # a checkpoint the key did not sign
    CHECKPOINTS_DELETED = "checkpoints-deleted"  # signed checkpoints are missing
    ROLLOUT_EDITED = "rollout-edited"  # a rollout row is not what the chain last recorded
    NO_KEY = "no-key"  # checkpoints exist but the key to check them is not here


@dataclass(frozen=True, kw_only=True)
class AuditVerification:
    """The outcome of recomputing the chain: ok, or the first thing that does not fit."""

    ok: bool
    checked: int
    checkpoints: int = 0  # signed checkpoints verified
    rollouts: int = 0  # rollout rows checked against the state the chain recorded
    uncovered: int = 0  # rollout rows with no recorded state (written before it was recorded)
    broken_id: int | None = None
    problem: str | None = None
    tampering: Tampering | None = None


@dataclass(frozen=True, kw_only=True)
class RequestRecord:
    """A person's command to a rollout (pause, resume, promote, abort, rollback) as stored."""

    id: int
    rollout_id: str
    kind: str
    actor: str
    reason: str
    options: Mapping[str, Any]
    created_at: float
    handled_at: float | None = None
