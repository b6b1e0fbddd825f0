"""Three pools in the embedded router: stable, canary and a fresh baseline with exact shares."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

import pytest

from safeship.core.types import Replica, TrafficSplit
from safeship.traffic.proxy.pools import (
    Balancer,
    CanaryShare,
    PoolShare,
    split_keys,
    validate_split,
)


@dataclass(eq=False)
class Node:
    name: str
    usable: bool = True
    ejected_until: float = 0.0


@pytest.mark.parametrize(
    ("canary", "baseline", "requests", "expected"),
    [
        (10.0, 10.0, 1000, {"stable": 800, "canary": 100, "baseline": 100}),
        (5.0, 5.0, 400, {"stable": 360, "canary": 20, "baseline": 20}),
        (25.0, 25.0, 8, {"stable": 4, "canary": 2, "baseline": 2}),
        (50.0, 50.0, 100, {"canary": 50, "baseline": 50}),
        (20.0, 0.0, 100, {"stable": 80, "canary": 20}),
        (0.0, 30.0, 100, {"stable": 70, "baseline": 30}),
        (30.0, 10.0, 1000, {"stable": 600, "canary": 300, "baseline": 100}),
        (60.0, 60.0, 100, {"canary": 60, "baseline": 40}),  # baseline clamped to what is left
    ],
)
def test_three_pool_share_is_exact(
    canary: float, baseline: float, requests: int, expected: dict[str, int]
) -> None:
    share = PoolShare(canary=canary, baseline=baseline)
    assert Counter(share.take() for _ in range(requests)) == expected


@pytest.mark.parametrize("weight", [1.0, 5.0, 12.5, 33.3, 50.0])
def test_canary_and_baseline_stay_within_one_request_of_each_other(weight: float) -> None:
    share = PoolShare(canary=weight, baseline=weight)
    seen: Counter[str] = Counter()
    for n in range(1, 3001):
        seen[share.take()] += 1
        assert abs(seen["canary"] - seen["baseline"]) <= 1
        assert abs(seen["canary"] - n * weight / 100) <= 2


@pytest.mark.parametrize("weight", [0.0, 5.0, 20.0, 33.3, 100.0])
def test_without_a_baseline_the_sequence_is_the_two_pool_one(weight: float) -> None:
    three, two = PoolShare(canary=weight), CanaryShare(weight)
    assert [three.take() == "canary" for _ in range(500)] == [two.take() for _ in range(500)]


def test_balancer_routes_the_baseline_its_share_round_robin() -> None:
    s, c, b1, b2 = Node("s"), Node("c"), Node("b1"), Node("b2")
    balancer = Balancer(
        stable=[s], canary=[c], weight=25.0, baseline=[b1, b2], baseline_weight=25.0
    )
    picked = Counter(balancer.choose(now=0.0).name for _ in range(400))  # type: ignore[union-attr]
    assert picked == {"s": 200, "c": 100, "b1": 50, "b2": 50}


def test_an_empty_baseline_pool_gets_no_share() -> None:
    s, c = Node("s"), Node("c")
    balancer = Balancer(stable=[s], canary=[c], weight=10.0, baseline=[], baseline_weight=10.0)
    picked = Counter(balancer.choose(now=0.0).name for _ in range(100))  # type: ignore[union-attr]
    assert picked == {"s": 90, "c": 10}


def test_an_unusable_baseline_falls_back_to_stable_the_same_version() -> None:
    s, c, b = Node("s"), Node("c"), Node("b", usable=False)
    balancer = Balancer(stable=[s], canary=[c], weight=50.0, baseline=[b], baseline_weight=50.0)
    assert {balancer.choose(now=0.0) for _ in range(10)} == {s, c}


def test_a_baseline_retry_goes_to_stable_then_baseline_never_twice() -> None:
    s, c, b = Node("s"), Node("c"), Node("b")
    balancer = Balancer(stable=[s], canary=[c], weight=10.0, baseline=[b], baseline_weight=10.0)
    assert balancer.retry(now=0.0, tried={b}, canary_first=False) is s
    assert balancer.retry(now=0.0, tried={s}, canary_first=False) is b
    assert balancer.retry(now=0.0, tried={s, b}, canary_first=False) is c


def _replica(n: int, version: str = "v1") -> Replica:
    return Replica(id=f"r{n}", version=version, host="127.0.0.1", port=9000 + n)


@pytest.mark.parametrize(
    ("split", "problem"),
    [
        (
            TrafficSplit(stable=(_replica(1),), canary_weight=60.0, baseline_weight=50.0),
            "more than 100",
        ),
        (TrafficSplit(stable=(_replica(1),), baseline_weight=-1.0), "baseline_weight -1"),
        (
            TrafficSplit(stable=(_replica(1),), baseline=(_replica(1),), baseline_weight=5.0),
            "more than one pool: 127.0.0.1:9001",
        ),
    ],
)
def test_invalid_three_pool_splits_are_refused(split: TrafficSplit, problem: str) -> None:
    assert any(problem in p for p in validate_split(split))


def test_a_valid_three_pool_split_has_every_backend_keyed() -> None:
    split = TrafficSplit(
        stable=(_replica(1),),
        canary=(_replica(2, "v2"),),
        canary_weight=20.0,
        baseline=(_replica(3),),
        baseline_weight=20.0,
    )
    assert validate_split(split) == []
    assert split_keys(split) == {("127.0.0.1", 9001), ("127.0.0.1", 9002), ("127.0.0.1", 9003)}
