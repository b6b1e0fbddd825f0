"""Talking to a `safeship agent` over its Unix socket, and the controller's view of it.

`AgentClient` is the API in Python (httpx over the socket). On top of it, `AgentProvider`
is a fleet `Provider` (pools with `scale`, named targets with `deploy`) and `AgentRouter` a traffic
`Router` (`apply`, `current`, `counters`), so a controller can steer the agent's data plane
as it steers the in-process one. Both are clients: `close()` leaves the fleet serving.
`Router.counters()` is synchronous in the protocol, so `AgentRouter.counters` makes one
blocking call over the socket (the agent sums its workers' metrics; a few milliseconds).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import httpx

from safeship.agent.model import (
    Pool,
    ReplicasRequest,
    RouteRequest,
    ServiceView,
    Split,
    StateView,
    UnitView,
)
from safeship.config.models import RouterSpec
from safeship.core.errors import DeployError
from safeship.core.types import MAIN, Replica, Role, Target, TrafficSplit, VersionCounters
from safeship.fleet.local import Handover

_BASE = "http://agent"
_POLL = 0.05


class AgentClient:
    """The agent's local API; every failure is a `DeployError` that says what to do."""

    def __init__(self, socket_path: Path, *, timeout: float = 10.0) -> None:
        self.socket_path = socket_path
        transport = httpx.AsyncHTTPTransport(uds=str(socket_path))
        self._http = httpx.AsyncClient(
            transport=transport, base_url=_BASE, timeout=timeout, trust_env=False
        )

    async def health(self) -> dict[str, Any]:
        answer: dict[str, Any] = (await self._call("GET", "/health")).json()
        return answer

    async def state(self) -> StateView:
        return StateView.model_validate_json((await self._call("GET", "/state")).content)

    async def service(self, name: str) -> ServiceView | None:
        return (await self.state()).services.get(name)

    async def put_replicas(self, name: str, request: ReplicasRequest) -> bool:
        body = request.model_dump(mode="json")
        changed: bool = (await self._call("PUT", f"/services/{name}/replicas", body)).json()[
            "changed"
        ]
        return changed

    async def put_route(self, name: str, request: RouteRequest) -> bool:
        body = request.model_dump(mode="json")
        changed: bool = (await self._call("PUT", f"/services/{name}/route", body)).json()["changed"]
        return changed

    async def shutdown(self, *, fleet: bool) -> None:
        """Ask the agent to exit; with `fleet`, after stopping every replica and worker."""
        await self._call("POST", "/shutdown", {"fleet": fleet})

    def counters_now(self, name: str) -> dict[str, VersionCounters]:
        """Blocking: the router counters of `name`, summed over its workers."""
        transport = httpx.HTTPTransport(uds=str(self.socket_path))
        with httpx.Client(transport=transport, base_url=_BASE, timeout=5.0) as http:
            try:
                response = http.get(f"/services/{name}/counters")
            except httpx.HTTPError as exc:
                raise self._unreachable(exc) from exc
        _raise_for(response)
        return {v: VersionCounters(**c) for v, c in response.json().items()}

    async def aclose(self) -> None:
        await self._http.aclose()

    async def _call(self, method: str, path: str, body: Any = None) -> httpx.Response:
        try:
            response = await self._http.request(method, path, json=body)
        except httpx.HTTPError as exc:
            raise self._unreachable(exc) from exc
        _raise_for(response)
        return response

    def _unreachable(self, exc: Exception) -> DeployError:
        return DeployError(
            f"safeship agent not reachable on {self.socket_path}: {type(exc).__name__} {exc} "
            "(is `safeship agent` running with this --socket?)"
        )


def _raise_for(response: httpx.Response) -> None:
    if response.is_success:
        return
    try:
        detail = response.json().get("error") or response.json().get("detail")
    except ValueError:
        detail = response.text
    raise DeployError(f"agent refused: HTTP {response.status_code}: {detail}")


PoolKey = tuple[str, Role, str | None]  # version, role, target


class AgentProvider:
    """A fleet `Provider` whose replicas the agent runs: pools (`scale`) and, given
    `targets` (name → labels), one replica per named slot (`deploy`, rolling and waves).

    A target moves to a new version the way the local provider moves it: the new replica is
    started beside the old one, `handover(old, new)` routes it in and drains the old one,
    and only then is the old one removed. Each change of the pools is one read-modify-write
    of the agent's desired state, under a lock, so side-by-side deploys never undo another.
    """

    def __init__(
        self,
        client: AgentClient,
        *,
        service: str,
        command: list[str],
        version_args: Mapping[str, list[str]] | None = None,
        env: Mapping[str, str] | None = None,
        health_path: str = "/health",
        start_timeout: float = 30.0,
        targets: Mapping[str, Mapping[str, str]] | None = None,
        handover: Handover | None = None,
    ) -> None:
        self.service = service
        self._client = client
        self._command = tuple(command)
        self._version_args = {v: tuple(a) for v, a in (version_args or {}).items()}
        self._env = dict(env or {})
        self._health_path = health_path
        self._start_timeout = start_timeout
        self._targets = {name: dict(labels) for name, labels in (targets or {}).items()}
        self._handover = handover
        self._lock = asyncio.Lock()

    async def replicas(self) -> list[Replica]:
        view = await self._client.service(self.service)
        return [] if view is None else [_replica(u) for u in view.replicas]

    async def scale(self, version: str, count: int, *, role: Role = MAIN) -> list[Replica]:
        """Ask for `count` replicas of (version, role); return once all are ready."""
        if count < 0:
            raise ValueError(f"replica count must be >= 0, found {count}")
        await self._change({(version, role, None): count})
        return await self._await_ready(version, role, count)

    async def targets(self) -> list[Target]:
        view = await self._client.service(self.service)
        units = view.replicas if view else ()
        return [self._target(name, units) for name in self._targets]

    async def deploy(self, target: str, version: str | None) -> Target:
        """Run `version` (None: nothing) on `target`, handing traffic over; idempotent."""
        if target not in self._targets:
            raise DeployError(f"no target {target} (known: {', '.join(self._targets)})")
        view = await self._client.service(self.service)
        old = [u for u in (view.replicas if view else ()) if u.target == target]
        if [(u.version, u.state) for u in old] == [(version, "ready")]:
            return self._target(target, old)
        new = None
        if version is not None:
            await self._change({(version, MAIN, target): 1})
            (new,) = await self._await_ready(version, MAIN, 1, target=target)
        leaving = [u for u in old if u.version != version]
        if self._handover is not None:
            for unit in leaving:
                await self._handover(_replica(unit), new)
        await self._change({(u.version or "", u.role, target): 0 for u in leaving})
        return Target(target, self._targets[target], version, new is not None, new)

    async def close(self) -> None:
        """Closes the connection only: the agent keeps the replicas running."""
        await self._client.aclose()

    async def _change(self, counts: Mapping[PoolKey, int]) -> None:
        """Set these pools' counts and keep every other pool as the agent has it."""
        async with self._lock:
            view = await self._client.service(self.service)
            pools: dict[PoolKey, int] = {}
            for unit in view.replicas if view else ():
                key = (unit.version or "", unit.role, unit.target)
                pools[key] = pools.get(key, 0) + 1
            await self._client.put_replicas(self.service, self._request({**pools, **counts}))

    def _request(self, counts: Mapping[PoolKey, int]) -> ReplicasRequest:
        pools = tuple(
            Pool(version=v, role=r, count=n, args=self._version_args.get(v, ()), target=t)
            for (v, r, t), n in counts.items()
            if n > 0
        )
        return ReplicasRequest(
            command=self._command, env=self._env, health_path=self._health_path, pools=pools
        )

    def _target(self, name: str, units: Sequence[UnitView]) -> Target:
        mine = [u for u in units if u.target == name]
        if not mine:
            return Target(name, self._targets[name])
        unit = mine[-1]  # the newest, while a new version takes over the slot
        return Target(
            name, self._targets[name], unit.version, unit.state == "ready", _replica(unit)
        )

    async def _await_ready(
        self, version: str, role: Role, count: int, *, target: str | None = None
    ) -> list[Replica]:
        deadline = time.monotonic() + self._start_timeout
        while True:
            view = await self._client.service(self.service)
            units = view.replicas if view else ()
            mine = [u for u in units if (u.version, u.role, u.target) == (version, role, target)]
            failed = [u for u in mine if u.state in ("failed", "backoff")]
            if failed:  # a start that crashes fails the step; the agent would only retry it
                unit = failed[0]
                raise DeployError(f"replica {unit.id} of {version} failed to start: {unit.reason}")
            if len(mine) == count and all(u.state == "ready" for u in mine):
                return [_replica(u) for u in mine]
            if time.monotonic() > deadline:
                states = ", ".join(f"{u.id}: {u.state} {u.reason}".strip() for u in mine)
                raise DeployError(f"{version} not ready in {self._start_timeout:g}s ({states})")
            await asyncio.sleep(_POLL)


class AgentRouter:
    """A traffic `Router` whose workers the agent runs; `apply` returns once every worker
    has applied the split and drained the backends that left it."""

    def __init__(
        self,
        client: AgentClient,
        *,
        service: str,
        spec: RouterSpec | None = None,
        workers: int = 2,
        timeout: float = 60.0,
    ) -> None:
        self.service = service
        self._client = client
        self._spec = spec or RouterSpec()
        self._workers = workers
        self._timeout = timeout
        self._split = TrafficSplit(stable=())

    async def apply(self, split: TrafficSplit) -> None:
        request = RouteRequest(split=Split.of(split), router=self._spec, workers=self._workers)
        await self._client.put_route(self.service, request)
        await self._await_applied()
        self._split = split

    def current(self) -> TrafficSplit:
        return self._split

    async def sync(self) -> TrafficSplit:
        """Take the split the agent already routes (a new controller of a running fleet)."""
        view = await self._client.service(self.service)
        if view is not None and view.route is not None:
            self._split = view.route.request.split.traffic_split()
        return self._split

    async def metrics_urls(self) -> list[str]:
        """Each ready worker's /metrics (one scrape target per worker; sum by version)."""
        view = await self._client.service(self.service)
        workers = view.workers if view else ()
        return [f"http://{w.host}:{w.port}/metrics" for w in workers if w.state == "ready"]

    def counters(self) -> dict[str, VersionCounters]:
        return self._client.counters_now(self.service)

    async def _await_applied(self) -> None:
        deadline = time.monotonic() + self._timeout
        while True:
            view = await self._client.service(self.service)
            if view is not None and view.route is not None and _applied(view):
                return
            if time.monotonic() > deadline:
                raise DeployError(f"router workers of {self.service} did not apply the route")
            await asyncio.sleep(_POLL)


def _applied(view: ServiceView) -> bool:
    assert view.route is not None
    generation = view.route.generation
    workers = view.workers
    return bool(workers) and all(
        w.state == "ready" and (w.generation or 0) >= generation for w in workers
    )


def _replica(unit: UnitView) -> Replica:
    return Replica(
        id=unit.id,
        version=unit.version or "",
        host=unit.host,
        port=unit.port,
        healthy=unit.state == "ready",
        role=unit.role,
    )
