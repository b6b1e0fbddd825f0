"""Pure routing decisions of the embedded router: which pool, which backend, what to drain.

No sockets and no clock reads here: the caller passes `now`, so the choices are table-testable.
The embedded router (`traffic.embedded`) calls `CanaryShare.take` and `RoundRobin.pick` once
per request, so both are a few attribute operations.
"""

from __future__ import annotations

from collections.abc import Container, Hashable, Iterable, Sequence
from dataclasses import dataclass
from typing import Generic, Protocol, TypeVar

from safeship.traffic.router import TrafficSplit


class CanaryShare:
    """Smooth weighted choice between stable and canary.

    An error-credit counter instead of an RNG: after n requests the canary has had
    round(n * weight / 100) of them (within one), so a 5 % step is 5 %, not 5 % +- noise,
    and 0 and 100 are exact.
    """

    __slots__ = ("_credit", "weight")

    def __init__(self, weight: float = 0.0) -> None:
        self.weight = min(100.0, max(0.0, weight))
        self._credit = 0.0

    def take(self) -> bool:
        """True when this request goes to the canary."""
        self._credit += self.weight
        if self._credit >= 100.0:
            self._credit -= 100.0
            return True
        return False


class Pickable(Protocol):
    """What the round-robin needs to know about a backend."""

    @property
    def usable(self) -> bool: ...  # healthy and not draining

    @property
    def ejected_until(self) -> float: ...  # passive health: skip until this time


B = TypeVar("B", bound=Pickable)


class RoundRobin(Generic[B]):
    """Round-robin over one pool's backends, skipping unusable, ejected and already-tried ones."""

    __slots__ = ("_next", "members")

    def __init__(self, members: Sequence[B] = ()) -> None:
        self.members: tuple[B, ...] = tuple(members)
        self._next = 0

    def pick(self, *, now: float, tried: Container[B] = ()) -> B | None:
        """The next usable backend; an ejected one only when nothing else is left."""
        members = self.members
        count = len(members)
        fallback: B | None = None
        for step in range(count):
            member = members[(self._next + step) % count]
            if not member.usable or member in tried:
                continue
            if member.ejected_until > now:
                fallback = fallback or member
                continue
            self._next = (self._next + step + 1) % count
            return member
        return fallback


K = TypeVar("K", bound=Hashable)


@dataclass(frozen=True)
class SplitChange(Generic[K]):
    """How the set of backends changes when a new split is applied."""

    added: frozenset[K]
    kept: frozenset[K]
    removed: frozenset[K]


def split_keys(split: TrafficSplit) -> frozenset[tuple[str, int]]:
    """Backends are identified by address: the same host:port is the same upstream."""
    return frozenset((r.host, r.port) for r in (*split.stable, *split.canary))


def diff(before: Iterable[K], after: Iterable[K]) -> SplitChange[K]:
    """Which backends appear, stay and leave (the leaving ones are drained)."""
    old, new = frozenset(before), frozenset(after)
    return SplitChange(added=new - old, kept=old & new, removed=old - new)


def validate_split(split: TrafficSplit) -> list[str]:
    """Problems that make a split unusable; empty when it is fine."""
    problems = []
    if not 0.0 <= split.canary_weight <= 100.0:
        problems.append(f"canary_weight {split.canary_weight} is outside 0..100")
    stable = {(r.host, r.port) for r in split.stable}
    both = sorted(f"{h}:{p}" for h, p in stable & {(r.host, r.port) for r in split.canary})
    if both:
        problems.append(f"backends in both pools: {', '.join(both)}")
    return problems


class Balancer(Generic[B]):
    """The routing table in force: two pools and the canary share between them."""

    __slots__ = ("canary", "share", "stable")

    def __init__(
        self, *, stable: Sequence[B] = (), canary: Sequence[B] = (), weight: float = 0.0
    ) -> None:
        self.stable: RoundRobin[B] = RoundRobin(stable)
        self.canary: RoundRobin[B] = RoundRobin(canary)
        self.share = CanaryShare(weight)

    def choose(self, *, now: float) -> B | None:
        """First try of a request: canary by share (only if the pool has members), else stable;
        the other pool when the chosen one has nothing usable."""
        if self.canary.members and self.share.take():
            return self.canary.pick(now=now) or self.stable.pick(now=now)
        return self.stable.pick(now=now) or self.canary.pick(now=now)

    def retry(self, *, now: float, tried: Container[B], canary_first: bool) -> B | None:
        """A later try: the same pool first, then the other one, never a backend tried before."""
        first, second = (self.canary, self.stable) if canary_first else (self.stable, self.canary)
        return first.pick(now=now, tried=tried) or second.pick(now=now, tried=tried)
