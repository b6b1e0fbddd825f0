"""What a controller's request means for the agent's desired state (pure).

`with_replicas` turns "n replicas of version v in role r" (or "the replica of target t runs
v") into replica units with stable ids
and ports: replicas that still fit the request are kept (same id, same port, so nothing
restarts), the newest extras go, new ones get fresh ids. `with_route` stores a split and the
router settings; the router's worker units depend only on the settings (listen, limits,
timeouts), so a new split keeps the workers and they apply it themselves. Both return the
service unchanged for a request that changes nothing, which makes the API idempotent.
Ports come from `allocate_port` (the daemon's free-port finder) so this module does no I/O.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable

from safeship.agent.model import Pool, ReplicasRequest, Route, RouteRequest, Service, Unit
from safeship.core.types import MAIN

AllocatePort = Callable[[str], int]  # host → a port free there now


def with_replicas(
    service: Service, name: str, request: ReplicasRequest, *, allocate_port: AllocatePort
) -> Service:
    """`service` running exactly the pools of `request`."""
    kept: list[Unit] = []
    seq = service.next_seq
    for pool in request.pools:
        fitting = [u for u in service.replicas if _fits(u, pool, request)][: pool.count]
        kept += fitting
        for _ in range(pool.count - len(fitting)):
            unit_id = _replica_id(name, pool, seq)
            kept.append(_replica(unit_id, pool, request, port=allocate_port(request.host)))
            seq += 1
    if tuple(kept) == service.replicas:
        return service
    return service.model_copy(update={"replicas": tuple(kept), "next_seq": seq})


def with_route(
    service: Service,
    name: str,
    request: RouteRequest,
    *,
    worker_argv: Callable[[str, int], tuple[str, ...]],
    allocate_port: AllocatePort,
) -> Service:
    """`service` routing per `request`; `worker_argv(worker id, metrics port)` starts one."""
    if service.route is not None and service.route.request == request:
        return service
    generation = 1 if service.route is None else service.route.generation + 1
    prefix = f"{name}-router-{settings_hash(request)}-"
    same = [w for w in service.workers if w.id.startswith(prefix)][: request.workers]
    taken = {w.id for w in same}
    fresh = (f"{prefix}{i}" for i in range(request.workers * 2) if f"{prefix}{i}" not in taken)
    workers = list(same)
    for worker_id in fresh:
        if len(workers) == request.workers:
            break
        port = allocate_port("127.0.0.1")
        workers.append(
            Unit(id=worker_id, argv=worker_argv(worker_id, port), port=port, health_path="/metrics")
        )
    route = Route(request=request, generation=generation)
    return service.model_copy(update={"route": route, "workers": tuple(workers)})


def settings_hash(request: RouteRequest) -> str:
    """Eight hex digits naming the router settings workers are started with (not the split)."""
    text = request.router.model_dump_json()
    return hashlib.sha256(text.encode()).hexdigest()[:8]


def _fits(unit: Unit, pool: Pool, request: ReplicasRequest) -> bool:
    return (
        unit.version == pool.version
        and unit.role == pool.role
        and unit.target == pool.target
        and unit.argv == (*request.command, *pool.args)
        and unit.env == request.env
        and unit.health_path == request.health_path
        and unit.host == request.host
    )


def _replica_id(service: str, pool: Pool, seq: int) -> str:
    role = "" if pool.role == MAIN else f"-{pool.role}"
    slot = f"-{pool.target}" if pool.target else ""
    return f"{service}-{pool.version}{role}{slot}-{seq}"


def _replica(unit_id: str, pool: Pool, request: ReplicasRequest, *, port: int) -> Unit:
    return Unit(
        id=unit_id,
        argv=(*request.command, *pool.args),
        env=dict(request.env),
        host=request.host,
        port=port,
        health_path=request.health_path,
        version=pool.version,
        role=pool.role,
        target=pool.target,
    )
