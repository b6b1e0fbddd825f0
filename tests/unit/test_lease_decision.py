"""The lease rules, one claim at a time: who leads, which term, what is written (store/lease.py)."""

from __future__ import annotations

import pytest

from safeship.store.lease import Fence, Lease, LeaseReason, decide, refusal, released

TTL = 10.0
NOW = 1_000.0


def lease(holder: str, token: int, expires_at: float) -> Lease:
    return Lease("rollout:web", holder, token, expires_at)


@pytest.mark.parametrize(
    ("current", "me", "leader", "reason", "token", "expires_at"),
    [
        (None, "a", True, LeaseReason.ACQUIRED, 1, NOW + TTL),
        (lease("a", 4, NOW + 3), "a", True, LeaseReason.RENEWED, 4, NOW + TTL),
        (lease("b", 4, NOW + 3), "a", False, LeaseReason.FOLLOWING, 4, NOW + 3),
        (lease("b", 4, NOW), "a", True, LeaseReason.TAKEN_OVER, 5, NOW + TTL),
        (lease("b", 4, NOW - 60), "a", True, LeaseReason.TAKEN_OVER, 5, NOW + TTL),
        # my own lease lapsed: a new term all the same, so a token handed out before is stale
        (lease("a", 4, NOW - 1), "a", True, LeaseReason.TAKEN_OVER, 5, NOW + TTL),
    ],
    ids=["free", "mine-live", "theirs-live", "theirs-expires-now", "theirs-expired", "mine-lapsed"],
)
def test_claim_decides_leadership_and_the_term(
    current: Lease | None,
    me: str,
    leader: bool,
    reason: LeaseReason,
    token: int,
    expires_at: float,
) -> None:
    decision = decide(current, name="rollout:web", me=me, now=NOW, ttl=TTL)
    assert (decision.leader, decision.reason) == (leader, reason)
    assert decision.lease is not None
    assert (decision.lease.token, decision.lease.expires_at) == (token, expires_at)
    assert (decision.write is not None) is leader
    assert (decision.fence == Fence("rollout:web", me, token)) is leader


def test_a_follower_writes_nothing_and_holds_no_fence() -> None:
    decision = decide(lease("b", 2, NOW + 1), name="rollout:web", me="a", now=NOW, ttl=TTL)
    assert (decision.write, decision.fence) == (None, None)


@pytest.mark.parametrize(
    ("current", "me", "token", "expected"),
    [
        (lease("a", 3, NOW + 5), "a", 3, lease("a", 3, NOW)),
        (lease("a", 3, NOW - 5), "a", 3, lease("a", 3, NOW - 5)),
        (lease("b", 3, NOW + 5), "a", 3, None),  # not mine: untouched
        (lease("a", 4, NOW + 5), "a", 3, None),  # a later term of mine: untouched
        (None, "a", 3, None),
    ],
)
def test_release_expires_only_my_own_term(
    current: Lease | None, me: str, token: int, expected: Lease | None
) -> None:
    assert released(current, me=me, token=token, now=NOW) == expected


@pytest.mark.parametrize(
    ("current", "fence", "refused"),
    [
        (lease("a", 3, NOW + 5), Fence("rollout:web", "a", 3), False),
        # lapsed but nobody took over: the token is still the newest, the write is safe
        (lease("a", 3, NOW - 5), Fence("rollout:web", "a", 3), False),
        (lease("b", 4, NOW + 5), Fence("rollout:web", "a", 3), True),
        (lease("a", 4, NOW + 5), Fence("rollout:web", "a", 3), True),
        (None, Fence("rollout:web", "a", 3), True),
    ],
    ids=["current", "lapsed-untaken", "taken-over", "newer-term", "no-lease"],
)
def test_a_persist_is_refused_unless_its_term_is_current(
    current: Lease | None, fence: Fence, refused: bool
) -> None:
    assert (refusal(current, fence) is not None) is refused
