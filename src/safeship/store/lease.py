"""Who leads, pure: given the lease row, who I am and the time, may I lead and what to write.

One controller acts at a time (DESIGN.md §2, process model). The lease row names its holder,
when it expires and a **fencing token** that grows by one with every new term, never on a
renewal. The leader hands its token to every persist; the store refuses a token that is no
longer the lease's (store/leadership.py), so a leader that was paused past its lease and
resumed cannot act after someone else took over, even before it notices.

Reasons, named: `ACQUIRED` (no lease yet), `RENEWED` (mine and live), `TAKEN_OVER` (expired
or released: a new term, mine), `FOLLOWING` (someone else's and live).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from enum import StrEnum

DEFAULT_TTL_S = 10.0
RENEW_FRACTION = 3  # renew every ttl / 3: two renewals may fail before the lease lapses


class LeaseReason(StrEnum):
    ACQUIRED = "acquired"
    RENEWED = "renewed"
    TAKEN_OVER = "taken-over"
    FOLLOWING = "following"


@dataclass(frozen=True)
class Lease:
    """One lease row: `name` (what is led), `holder`, `token` (the term), `expires_at`."""

    name: str
    holder: str
    token: int
    expires_at: float

    def live(self, now: float) -> bool:
        return now < self.expires_at


@dataclass(frozen=True)
class Fence:
    """What a leader presents with every persist: the lease it believes it holds."""

    name: str
    holder: str
    token: int


@dataclass(frozen=True)
class Decision:
    """The outcome of one claim: am I leader, why, and the row to store (None: no write)."""

    leader: bool
    reason: LeaseReason
    lease: Lease | None
    write: Lease | None

    @property
    def fence(self) -> Fence | None:
        if not self.leader or self.lease is None:
            return None
        return Fence(self.lease.name, self.lease.holder, self.lease.token)


def renew_interval(ttl: float) -> float:
    return ttl / RENEW_FRACTION


def decide(current: Lease | None, *, name: str, me: str, now: float, ttl: float) -> Decision:
    """Claim the lease `name` for `me` at `now` for `ttl` seconds, if it is free or mine."""
    if current is None:
        new = Lease(name, me, 1, now + ttl)
        return Decision(True, LeaseReason.ACQUIRED, new, new)
    if current.live(now) and current.holder != me:
        return Decision(False, LeaseReason.FOLLOWING, current, None)
    if current.live(now):
        renewed = replace(current, expires_at=now + ttl)
        return Decision(True, LeaseReason.RENEWED, renewed, renewed)
    # Lapsed (even if it was mine): a new term, so a token handed out before is stale.
    taken = Lease(name, me, current.token + 1, now + ttl)
    return Decision(True, LeaseReason.TAKEN_OVER, taken, taken)


def released(current: Lease | None, *, me: str, token: int, now: float) -> Lease | None:
    """The row after `me` lets go of term `token` (expired now), or None if it is not mine."""
    if current is None or current.holder != me or current.token != token:
        return None
    return replace(current, expires_at=min(current.expires_at, now))


def refusal(current: Lease | None, fence: Fence) -> str | None:
    """Why a persist carrying `fence` must be refused (None: it may go ahead).

    Only the token and holder matter: while they are unchanged nobody else has led since,
    so even a write after the lease lapsed is safe; the taker bumps the token first.
    """
    if current is None:
        return f"lease {fence.name} does not exist: {fence.holder} never held it"
    if current.token != fence.token or current.holder != fence.holder:
        return (
            f"lease {fence.name} is held by {current.holder} (term {current.token}),"
            f" not by {fence.holder} (term {fence.token}): this controller must stop acting"
        )
    return None
