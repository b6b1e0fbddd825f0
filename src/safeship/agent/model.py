"""The agent's state as it is stored on disk and spoken over its API (pydantic, JSON).

Desired state (`Desired`) is what the controller asked for: per service the replicas
(version, role, argv, env as given — `${NAME}` references stay references, resolved only when
a process starts, so no secret reaches the disk), the router's split and settings, and the
router workers that serve it. Observed state (`Observed`) is what the agent runs: per unit the
pid, its /proc start time, its port and where it is in its life. Both are written whole and
atomically (`agent.files`), desired before the agent acts on it.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from safeship.config.models import RouterSpec
from safeship.core.types import MAIN, Replica, Role, TrafficSplit

UnitState = Literal["starting", "ready", "backoff", "failed"]


class Frozen(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Unit(Frozen):
    """One process the agent keeps running: a replica (version set) or a router worker."""

    id: str
    argv: tuple[str, ...]
    env: dict[str, str] = Field(default_factory=dict)
    host: str = "127.0.0.1"
    port: int  # where health answers: the replica's port, or the worker's metrics port
    health_path: str = "/health"
    version: str | None = None
    role: Role = MAIN
    target: str | None = None  # the named slot it fills (rolling, waves), or a pool's


class Backend(Frozen):
    """A replica as the router sees it."""

    id: str
    version: str
    host: str = "127.0.0.1"
    port: int
    role: Role = MAIN

    def replica(self) -> Replica:
        return Replica(self.id, self.version, self.host, self.port, role=self.role)

    @classmethod
    def of(cls, replica: Replica) -> Backend:
        return cls(
            id=replica.id,
            version=replica.version,
            host=replica.host,
            port=replica.port,
            role=replica.role,
        )


class Split(Frozen):
    """A `TrafficSplit` in JSON."""

    stable: tuple[Backend, ...] = ()
    canary: tuple[Backend, ...] = ()
    canary_weight: float = Field(0.0, ge=0, le=100)
    baseline: tuple[Backend, ...] = ()
    baseline_weight: float = Field(0.0, ge=0, le=100)

    def traffic_split(self) -> TrafficSplit:
        return TrafficSplit(
            stable=tuple(b.replica() for b in self.stable),
            canary=tuple(b.replica() for b in self.canary),
            canary_weight=self.canary_weight,
            baseline=tuple(b.replica() for b in self.baseline),
            baseline_weight=self.baseline_weight,
        )

    @classmethod
    def of(cls, split: TrafficSplit) -> Split:
        return cls(
            stable=tuple(Backend.of(r) for r in split.stable),
            canary=tuple(Backend.of(r) for r in split.canary),
            canary_weight=split.canary_weight,
            baseline=tuple(Backend.of(r) for r in split.baseline),
            baseline_weight=split.baseline_weight,
        )


class RouteRequest(Frozen):
    """`PUT /services/{name}/route`: the split, and the router settings (listen, limits,
    timeouts: the rollout spec's `router:` section) with how many worker processes."""

    split: Split
    router: RouterSpec = Field(default_factory=RouterSpec)
    workers: int = Field(2, ge=1, le=64)


class Route(Frozen):
    """A route as stored: the request and a generation the workers report once applied."""

    request: RouteRequest
    generation: int


class Pool(Frozen):
    """How many replicas of one version in one role, with that version's extra arguments;
    with `target`, the replica of one named slot (target strategies: count 1, or 2 while a
    new version takes over the slot)."""

    version: str
    role: Role = MAIN
    count: int = Field(ge=0)
    args: tuple[str, ...] = ()
    target: str | None = Field(None, pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$")


class ReplicasRequest(Frozen):
    """`PUT /services/{name}/replicas`: every pool of the service (one left out is removed).

    `command` may hold `{port}`, `{version}`, `{host}` and `{replica}`, like the `local`
    provider's; `env` values may be `${NAME}` references, resolved from the agent's
    environment when a replica starts.
    """

    command: tuple[str, ...] = Field(min_length=1)
    env: dict[str, str] = Field(default_factory=dict)
    health_path: str = "/health"
    host: str = "127.0.0.1"
    pools: tuple[Pool, ...] = ()


class Service(Frozen):
    """Everything the agent is asked to run for one service."""

    replicas: tuple[Unit, ...] = ()
    route: Route | None = None
    workers: tuple[Unit, ...] = ()
    next_seq: int = 1  # replica ids are never reused, so a record never names two processes


class Desired(Frozen):
    services: dict[str, Service] = Field(default_factory=dict)


class Record(BaseModel):
    """What the agent knows of one unit's process; mutable, owned by the supervisor."""

    model_config = ConfigDict(extra="forbid")

    id: str
    service: str
    pid: int | None = None
    start_time: int | None = None  # /proc/PID/stat field 22: tells our pid from a reused one
    port: int
    state: UnitState = "starting"
    crashes: tuple[float, ...] = ()
    next_start: float | None = None
    starts: int = 0  # processes started for this unit by any agent run
    reason: str = ""


class Observed(BaseModel):
    model_config = ConfigDict(extra="forbid")

    records: dict[str, Record] = Field(default_factory=dict)


class UnitView(Frozen):
    """One unit as `GET /state` reports it: desired facts joined with the observed ones."""

    id: str
    version: str | None
    role: Role
    host: str
    port: int
    state: UnitState | Literal["pending"]
    pid: int | None
    starts: int
    reason: str
    generation: int | None = None  # router workers: the route generation applied and drained
    target: str | None = None


class ServiceView(Frozen):
    replicas: tuple[UnitView, ...]
    workers: tuple[UnitView, ...]
    route: Route | None


class StateView(Frozen):
    """`GET /state`."""

    pid: int
    services: dict[str, ServiceView]
