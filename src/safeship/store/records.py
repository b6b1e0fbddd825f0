"""What the store hands back and takes in: plain frozen records, free of SQLAlchemy.

The reconciler builds a `RolloutRecord` from its planner status and saves it; the audit log
hands out `AuditEntry`s; `verify_audit` answers with an `AuditVerification`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
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
class AuditVerification:
    """The outcome of recomputing the chain: ok, or the first entry that does not fit."""

    ok: bool
    checked: int
    broken_id: int | None = None
    problem: str | None = None


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
