"""The Router protocol: which backends serve a service, and what share goes to the canary."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

from safeship.fleet.provider import Replica


@dataclass(frozen=True)
class TrafficSplit:
    """The whole desired routing state; applying the same split twice changes nothing.

    `baseline` is an optional third pool: fresh replicas of the stable version that get
    `baseline_weight` percent, so canary and baseline see the same traffic (Kayenta's
    setup); stable gets what canary and baseline leave.
    """

    stable: tuple[Replica, ...]
    canary: tuple[Replica, ...] = ()
    canary_weight: float = 0.0  # percent of requests, 0..100
    baseline: tuple[Replica, ...] = ()
    baseline_weight: float = 0.0  # percent of requests; canary + baseline <= 100


@dataclass
class VersionCounters:
    """Cumulative request counters of one version as seen by the router."""

    requests: int = 0
    errors: int = 0  # 5xx answers and upstream failures
    duration_buckets: list[int] = field(default_factory=list)  # cumulative, per DURATION_BUCKETS
    duration_sum: float = 0.0


# Upper bounds (seconds) of the router's latency histogram; +Inf is implicit as the last bucket.
DURATION_BUCKETS: tuple[float, ...] = (
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.25, 0.3, 0.4, 0.5,
    0.75, 1.0, 2.5, 5.0, 10.0,
)  # fmt: skip


class Router(Protocol):
    """A traffic router for one service."""

    async def apply(self, split: TrafficSplit) -> None:
        """Route per `split`. Backends that leave every pool are drained: their in-flight
        requests finish, they get no new ones, and `apply` returns once they are idle."""
        ...

    def current(self) -> TrafficSplit:
        """The split in force now."""
        ...

    def counters(self) -> dict[str, VersionCounters]:
        """Cumulative request counters per backend version, for analysis."""
        ...
