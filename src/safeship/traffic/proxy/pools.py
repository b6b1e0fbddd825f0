"""Pure routing decisions of the embedded router: which pool, which backend, what to drain.

No sockets and no clock reads here: the caller passes `now`, so the choices are table-testable.
The embedded router (`traffic.embedded`) calls `PoolShare.take` and `RoundRobin.pick` once
per request, so both are a few attribute operations. Up to three pools: stable, canary and
an optional fresh baseline (the stable version, given the canary's share).
"""

from __future__ import annotations

from collections.abc import Container, Hashable, Iterable, Sequence
from dataclasses import dataclass
from typing import Generic, Literal, Protocol, TypeVar

from safeship.core.types import Replica, TrafficSplit


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


PoolName = Literal["stable", "canary", "baseline"]


class PoolShare:
    """Exact three-way choice: stable, canary, baseline, by percent weights.

    Two nested error-credit counters (as in `CanaryShare`): the outer sends requests to the
    experiment (canary or baseline) at the sum of both weights, the inner splits the
    experiment between them by ratio, so with equal weights they strictly alternate and see
    the same mix of requests. Without a baseline the inner always says canary and the outer
    is exactly `CanaryShare(canary)`: the same sequence as before the baseline existed.
    Inlined rather than two `CanaryShare`s: this runs once per request.
    """

    __slots__ = ("_canary_part", "_credit", "_part_credit", "_total")

    def __init__(self, *, canary: float = 0.0, baseline: float = 0.0) -> None:
        canary = min(100.0, max(0.0, canary))
        baseline = min(100.0 - canary, max(0.0, baseline))
        self._total = canary + baseline
        self._canary_part = 100.0 * canary / self._total if self._total else 100.0
        self._credit = self._part_credit = 0.0

    def take(self) -> PoolName:
        """The pool of this request's first try."""
        self._credit += self._total
        if self._credit < 100.0:
            return "stable"
        self._credit -= 100.0
        self._part_credit += self._canary_part
        if self._part_credit >= 100.0:
            self._part_credit -= 100.0
            return "canary"
        return "baseline"


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

    def pick(self, now: float, tried: Container[B] = ()) -> B | None:
        """The next usable backend; an ejected one only when nothing else is left.
        (`now` may be positional: this runs once per request.)"""
        members = self.members
        count = len(members)
        if count:  # the loop's first step, without the loop: almost every pick ends here
            member = members[self._next]
            if member.usable and member not in tried and member.ejected_until <= now:
                self._next = (self._next + 1) % count
                return member
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
    return frozenset((r.host, r.port) for r in (*split.stable, *split.canary, *split.baseline))


def diff(before: Iterable[K], after: Iterable[K]) -> SplitChange[K]:
    """Which backends appear, stay and leave (the leaving ones are drained)."""
    old, new = frozenset(before), frozenset(after)
    return SplitChange(added=new - old, kept=old & new, removed=old - new)


def validate_split(split: TrafficSplit) -> list[str]:
    """Problems that make a split unusable; empty when it is fine."""
    problems = []
    for name, weight in (("canary", split.canary_weight), ("baseline", split.baseline_weight)):
        if not 0.0 <= weight <= 100.0:
            problems.append(f"{name}_weight {weight} is outside 0..100")
    if split.canary_weight + split.baseline_weight > 100.0:
        total = split.canary_weight + split.baseline_weight
        problems.append(f"canary_weight + baseline_weight is {total:g}, more than 100")
    pools = [_addresses(split.stable), _addresses(split.canary), _addresses(split.baseline)]
    shared = (pools[0] & pools[1]) | (pools[0] & pools[2]) | (pools[1] & pools[2])
    if shared:
        found = ", ".join(sorted(f"{h}:{p}" for h, p in shared))
        kind = "both pools" if not split.baseline else "more than one pool"
        problems.append(f"backends in {kind}: {found}")
    return problems


def _addresses(pool: Iterable[Replica]) -> set[tuple[str, int]]:
    return {(r.host, r.port) for r in pool}


class Balancer(Generic[B]):
    """The routing table in force: stable, canary and (optional) baseline pools and shares."""

    __slots__ = ("_fallbacks", "baseline", "canary", "share", "stable")

    def __init__(
        self,
        *,
        stable: Sequence[B] = (),
        canary: Sequence[B] = (),
        weight: float = 0.0,
        baseline: Sequence[B] = (),
        baseline_weight: float = 0.0,
    ) -> None:
        self.stable: RoundRobin[B] = RoundRobin(stable)
        self.canary: RoundRobin[B] = RoundRobin(canary)
        self.baseline: RoundRobin[B] = RoundRobin(baseline)
        # An empty pool gets no share: its requests would only fall back elsewhere.
        self.share = PoolShare(
            canary=weight if canary else 0.0, baseline=baseline_weight if baseline else 0.0
        )
        # Where a request goes when its pool has nothing usable: the same version first.
        self._fallbacks: dict[PoolName, tuple[RoundRobin[B], ...]] = {
            "stable": (self.stable, self.baseline, self.canary),
            "canary": (self.canary, self.stable, self.baseline),
            "baseline": (self.baseline, self.stable, self.canary),
        }

    def choose(self, now: float) -> B | None:
        """First try of a request: a pool by share, then the others when it has nothing usable."""
        order = self._fallbacks[self.share.take()]
        # The chosen pool answers almost always: try it before the general loop (hot path).
        return order[0].pick(now) or self._pick_in(order, now=now, tried=())

    def retry(self, *, now: float, tried: Container[B], canary_first: bool) -> B | None:
        """A later try: the same pool first, then the others, never a backend tried before.
        (A baseline backend's retry goes to stable first: the same version.)"""
        return self._pick("canary" if canary_first else "stable", now=now, tried=tried)

    def _pick(self, pool: PoolName, *, now: float, tried: Container[B]) -> B | None:
        return self._pick_in(self._fallbacks[pool], now=now, tried=tried)

    @staticmethod
    def _pick_in(order: tuple[RoundRobin[B], ...], *, now: float, tried: Container[B]) -> B | None:
        for candidates in order:
            picked = candidates.pick(now=now, tried=tried)
            if picked is not None:
                return picked
        return None
