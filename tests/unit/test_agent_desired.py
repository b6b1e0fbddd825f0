"""How API requests change the agent's desired state (agent/desired.py): stable ids, idempotence."""

from __future__ import annotations

import itertools

from safeship.agent.desired import settings_hash, with_replicas, with_route
from safeship.agent.model import Pool, ReplicasRequest, RouteRequest, Service, Split
from safeship.config.models import RouterSpec

CMD = ("demo", "--port", "{port}", "--version", "{version}")


def ports() -> itertools.count[int]:
    return itertools.count(9000)


def request(*pools: Pool) -> ReplicasRequest:
    return ReplicasRequest(command=CMD, pools=pools)


def scaled(service: Service, *pools: Pool, counter: itertools.count[int]) -> Service:
    return with_replicas(service, "web", request(*pools), allocate_port=lambda _: next(counter))


def test_new_pools_get_fresh_ids_and_ports() -> None:
    service = scaled(Service(), Pool(version="v1", count=2), counter=ports())
    assert [(u.id, u.port, u.version) for u in service.replicas] == [
        ("web-v1-1", 9000, "v1"),
        ("web-v1-2", 9001, "v1"),
    ]


def test_the_same_request_twice_changes_nothing() -> None:
    counter = ports()
    once = scaled(Service(), Pool(version="v1", count=2), counter=counter)
    assert scaled(once, Pool(version="v1", count=2), counter=counter) is once


def test_scaling_keeps_the_oldest_and_never_reuses_an_id() -> None:
    counter = ports()
    service = scaled(Service(), Pool(version="v1", count=3), counter=counter)
    down = scaled(service, Pool(version="v1", count=1), counter=counter)
    up = scaled(down, Pool(version="v1", count=2), counter=counter)
    assert [u.id for u in down.replicas] == ["web-v1-1"]
    assert [u.id for u in up.replicas] == ["web-v1-1", "web-v1-4"]


def test_a_pool_left_out_is_removed_and_roles_are_counted_apart() -> None:
    counter = ports()
    service = scaled(Service(), Pool(version="v1", count=1), counter=counter)
    both = scaled(
        service,
        Pool(version="v1", count=1),
        Pool(version="v1", role="baseline", count=1),
        counter=counter,
    )
    assert [u.id for u in both.replicas] == ["web-v1-1", "web-v1-baseline-2"]
    only_v2 = scaled(both, Pool(version="v2", count=1), counter=counter)
    assert [u.id for u in only_v2.replicas] == ["web-v2-3"]


def test_changed_arguments_replace_the_replicas() -> None:
    counter = ports()
    service = scaled(Service(), Pool(version="v1", count=1), counter=counter)
    slow = Pool(version="v1", count=1, args=("--latency-ms", "5"))
    slower = scaled(service, slow, counter=counter)
    assert [u.id for u in slower.replicas] == ["web-v1-2"]
    assert slower.replicas[0].argv[-2:] == ("--latency-ms", "5")


def routed(service: Service, request: RouteRequest, counter: itertools.count[int]) -> Service:
    return with_route(
        service,
        "web",
        request,
        worker_argv=lambda wid, port: ("worker", wid, str(port)),
        allocate_port=lambda _: next(counter),
    )


def test_a_new_split_keeps_the_workers_and_bumps_the_generation() -> None:
    counter = ports()
    first = routed(Service(), RouteRequest(split=Split()), counter)
    second = routed(first, RouteRequest(split=Split(canary_weight=10)), counter)
    assert first.route is not None and second.route is not None
    assert (first.route.generation, second.route.generation) == (1, 2)
    assert second.workers == first.workers
    assert len(first.workers) == 2
    assert routed(second, RouteRequest(split=Split(canary_weight=10)), counter) is second


def test_new_router_settings_start_new_workers() -> None:
    counter = ports()
    first = routed(Service(), RouteRequest(split=Split()), counter)
    spec = RouterSpec(listen="127.0.0.1:9999")
    moved = routed(first, RouteRequest(split=Split(), router=spec, workers=3), counter)
    assert not {w.id for w in moved.workers} & {w.id for w in first.workers}
    hashed = settings_hash(RouteRequest(split=Split(), router=spec))
    assert [w.id for w in moved.workers] == [f"web-router-{hashed}-{i}" for i in range(3)]


def test_a_target_keeps_its_replica_while_a_new_version_takes_the_slot() -> None:
    counter = ports()
    slots = [Pool(version="v1", count=1, target=f"web-{i}") for i in range(2)]
    service = scaled(Service(), *slots, counter=counter)
    assert [(u.id, u.target) for u in service.replicas] == [
        ("web-v1-web-0-1", "web-0"),
        ("web-v1-web-1-2", "web-1"),
    ]
    new = Pool(version="v2", count=1, target="web-0")
    surged = scaled(service, *slots, new, counter=counter)  # both run: the router hands over
    moved = scaled(surged, slots[1], new, counter=counter)  # then the old one goes
    assert [u.id for u in surged.replicas] == ["web-v1-web-0-1", "web-v1-web-1-2", "web-v2-web-0-3"]
    assert [(u.id, u.target) for u in moved.replicas] == [
        ("web-v1-web-1-2", "web-1"),
        ("web-v2-web-0-3", "web-0"),
    ]
    pool = scaled(moved, *slots[1:], new, Pool(version="v2", count=1), counter=counter)
    assert pool.replicas[-1].target is None  # a pool of v2 is not target web-0's replica
