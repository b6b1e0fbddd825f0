"""The embedded router's routing decisions: canary share, round-robin, retries, split changes."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from safeship.core.types import Replica, TrafficSplit
from safeship.traffic.proxy.pools import (
    Balancer,
    CanaryShare,
    RoundRobin,
    diff,
    split_keys,
    validate_split,
)


@dataclass(eq=False)
class Node:
    name: str
    usable: bool = True
    ejected_until: float = 0.0


@pytest.mark.parametrize(
    ("weight", "requests", "expected_canary"),
    [
        (0.0, 1000, 0),
        (100.0, 1000, 1000),
        (25.0, 1000, 250),
        (5.0, 400, 20),
        (50.0, 7, 3),
        (12.5, 80, 10),
        (150.0, 10, 10),  # clamped to 100
        (-5.0, 10, 0),  # clamped to 0
    ],
)
def test_canary_share_is_exact_over_many_requests(
    weight: float, requests: int, expected_canary: int
) -> None:
    share = CanaryShare(weight)
    assert sum(share.take() for _ in range(requests)) == expected_canary


@pytest.mark.parametrize("weight", [1.0, 10.0, 33.3, 66.7, 99.0])
def test_canary_share_stays_within_one_request_of_the_ideal_at_every_point(weight: float) -> None:
    share = CanaryShare(weight)
    taken = 0
    for n in range(1, 2001):
        taken += share.take()
        assert abs(taken - n * weight / 100) <= 1


def test_round_robin_rotates_over_members() -> None:
    a, b, c = Node("a"), Node("b"), Node("c")
    pool = RoundRobin([a, b, c])
    assert [pool.pick(now=0.0) for _ in range(6)] == [a, b, c, a, b, c]


def test_round_robin_skips_unusable_and_tried_members() -> None:
    a, b, c = Node("a"), Node("b", usable=False), Node("c")
    pool = RoundRobin([a, b, c])
    assert [pool.pick(now=0.0) for _ in range(4)] == [a, c, a, c]
    assert pool.pick(now=0.0, tried=[a, c]) is None


def test_round_robin_prefers_members_not_ejected_and_falls_back_to_ejected_ones() -> None:
    a, b = Node("a", ejected_until=10.0), Node("b")
    pool = RoundRobin([a, b])
    assert [pool.pick(now=5.0) for _ in range(3)] == [b, b, b]
    b.usable = False
    assert pool.pick(now=5.0) is a  # better a try on a possibly-recovered backend than none
    assert pool.pick(now=11.0) is a


def test_round_robin_of_empty_pool_picks_nothing() -> None:
    assert RoundRobin[Node]([]).pick(now=0.0) is None


def test_balancer_ignores_weight_when_canary_pool_is_empty() -> None:
    s = Node("s")
    balancer = Balancer(stable=[s], canary=[], weight=100.0)
    assert {balancer.choose(now=0.0) for _ in range(10)} == {s}


def test_balancer_sends_the_weighted_share_to_canary() -> None:
    s, c = Node("s"), Node("c")
    balancer = Balancer(stable=[s], canary=[c], weight=20.0)
    picks = [balancer.choose(now=0.0) for _ in range(100)]
    assert picks.count(c) == 20 and picks.count(s) == 80


def test_balancer_falls_back_to_the_other_pool_when_one_has_nothing_usable() -> None:
    s, c = Node("s"), Node("c", usable=False)
    balancer = Balancer(stable=[s], canary=[c], weight=100.0)
    assert balancer.choose(now=0.0) is s
    s.usable, c.usable = False, True
    balancer = Balancer(stable=[s], canary=[c], weight=0.0)
    assert balancer.choose(now=0.0) is c


def test_balancer_without_backends_chooses_nothing() -> None:
    assert Balancer[Node]().choose(now=0.0) is None


def test_retry_prefers_the_same_pool_then_the_other_and_never_repeats() -> None:
    s1, s2, c1 = Node("s1"), Node("s2"), Node("c1")
    balancer = Balancer(stable=[s1, s2], canary=[c1], weight=50.0)
    assert balancer.retry(now=0.0, tried=[s1], canary_first=False) is s2
    assert balancer.retry(now=0.0, tried=[s1, s2], canary_first=False) is c1
    assert balancer.retry(now=0.0, tried=[c1], canary_first=True) in (s1, s2)
    assert balancer.retry(now=0.0, tried=[s1, s2, c1], canary_first=False) is None


def _replica(port: int, version: str = "v1") -> Replica:
    return Replica(f"r{port}", version, "127.0.0.1", port)


def test_diff_names_added_kept_and_removed_backends() -> None:
    before = split_keys(TrafficSplit(stable=(_replica(1), _replica(2))))
    after = split_keys(TrafficSplit(stable=(_replica(2),), canary=(_replica(3, "v2"),)))
    change = diff(before, after)
    assert change.added == {("127.0.0.1", 3)}
    assert change.kept == {("127.0.0.1", 2)}
    assert change.removed == {("127.0.0.1", 1)}


def test_applying_the_same_split_changes_nothing() -> None:
    keys = split_keys(TrafficSplit(stable=(_replica(1),), canary=(_replica(2),)))
    change = diff(keys, keys)
    assert not change.added and not change.removed and change.kept == keys


@pytest.mark.parametrize(
    ("split", "problem"),
    [
        (TrafficSplit(stable=(_replica(1),), canary_weight=101.0), "outside 0..100"),
        (TrafficSplit(stable=(_replica(1),), canary_weight=-1.0), "outside 0..100"),
        (TrafficSplit(stable=(_replica(1),), canary=(_replica(1),)), "both pools: 127.0.0.1:1"),
    ],
)
def test_unusable_splits_are_refused_with_the_reason(split: TrafficSplit, problem: str) -> None:
    assert any(problem in p for p in validate_split(split))


def test_usable_split_has_no_problems() -> None:
    split = TrafficSplit(stable=(_replica(1),), canary=(_replica(2),), canary_weight=30.0)
    assert validate_split(split) == []
    assert validate_split(TrafficSplit(stable=())) == []
