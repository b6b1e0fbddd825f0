"""Value types that every layer shares: replicas and targets of the fleet, the traffic split
and the router's counters. Pure data, so pure code (planner, judges) can use them without
importing the packages that do I/O."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

from safeship.core.addresses import http_url

Role = Literal["main", "baseline"]
MAIN: Role = "main"
BASELINE: Role = "baseline"


@dataclass(frozen=True)
class Replica:
    """One running instance of one version, reachable at host:port."""

    id: str
    version: str
    host: str
    port: int
    healthy: bool = True
    role: Role = MAIN

    @property
    def url(self) -> str:
        return http_url(self.host, self.port)


@dataclass(frozen=True)
class Target:
    """A named place a version runs (a node, a host, a slot), with the labels users select by.

    `version` is None when nothing runs there; `healthy` is False when the version that should
    run there has died or fails its health check; `replica` is how to reach it while it runs.
    """

    name: str
    labels: Mapping[str, str] = field(default_factory=dict)
    version: str | None = None
    healthy: bool = False
    replica: Replica | None = None


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
