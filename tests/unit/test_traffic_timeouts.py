"""Router timeouts as configured (spec, `safeship proxy` flags) and the surge handover split:
what is accepted, what is refused, and how traffic follows a target that changes replica."""

from __future__ import annotations

import pytest

from safeship.cli.proxy import UsageError, build_timeouts
from safeship.config.models import RouterSpec
from safeship.core.types import Replica, TrafficSplit
from safeship.rollout.targets import handover_split
from safeship.traffic.proxy.timeouts import Timeouts


def test_defaults_are_what_operators_expect() -> None:
    assert Timeouts() == Timeouts(idle=60, header=10, response=60, max_connections=None)
    spec = RouterSpec()
    assert (spec.idle_timeout, spec.header_timeout, spec.response_timeout) == (60, 10, 60)
    assert spec.max_connections is None


@pytest.mark.parametrize(
    ("timeouts", "problem"),
    [
        (Timeouts(idle=0), "idle timeout must be > 0"),
        (Timeouts(header=-1), "header timeout must be > 0"),
        (Timeouts(response=0), "response timeout must be > 0"),
        (Timeouts(connect=0), "connect timeout must be > 0"),
        (Timeouts(max_connections=0), "max connections must be >= 1"),
    ],
)
def test_unusable_timeouts_are_named(timeouts: Timeouts, problem: str) -> None:
    assert [p for p in timeouts.problems() if problem in p]


def test_spec_durations_read_like_the_rest_of_the_spec() -> None:
    spec = RouterSpec.model_validate(
        {"idleTimeout": "90s", "headerTimeout": "2s", "responseTimeout": "1m", "maxConnections": 8}
    )
    assert (spec.idle_timeout, spec.header_timeout, spec.response_timeout) == (90, 2, 60)
    assert spec.max_connections == 8


@pytest.mark.parametrize(
    "field", [{"idleTimeout": "0s"}, {"responseTimeout": 0}, {"maxConnections": 0}]
)
def test_spec_refuses_zero(field: dict[str, object]) -> None:
    with pytest.raises(ValueError, match=next(iter(field))):
        RouterSpec.model_validate(field)


def test_proxy_flags_become_timeouts() -> None:
    timeouts = build_timeouts(idle="2m", header="500ms", response="30", max_connections=4)
    assert timeouts == Timeouts(idle=120, header=0.5, response=30, max_connections=4)


@pytest.mark.parametrize(
    ("flags", "option"),
    [
        ({"idle": "0s"}, "--idle-timeout"),
        ({"header": "soon"}, "--header-timeout"),
        ({"response": "-3"}, "--response-timeout"),
        ({"max_connections": 0}, "--max-connections"),
    ],
)
def test_unusable_proxy_flags_are_refused_with_the_option_named(
    flags: dict[str, object], option: str
) -> None:
    given: dict[str, object] = {"idle": "60s", "header": "10s", "response": "60s"}
    given["max_connections"] = None
    with pytest.raises(UsageError, match=option):
        build_timeouts(**{**given, **flags})  # type: ignore[arg-type]


def _replica(version: str, port: int) -> Replica:
    return Replica(f"{version}-{port}", version, "127.0.0.1", port)


OLD_A, OLD_B, OLD_C = _replica("v1", 1), _replica("v1", 2), _replica("v1", 3)
NEW_A, NEW_B, NEW_C = _replica("v2", 11), _replica("v2", 12), _replica("v2", 13)


@pytest.mark.parametrize(
    ("before", "old", "new", "after"),
    [
        (  # first target of a rolling surge: the new version joins as canary by count
            TrafficSplit(stable=(OLD_A, OLD_B, OLD_C)),
            OLD_A,
            NEW_A,
            TrafficSplit(stable=(OLD_B, OLD_C), canary=(NEW_A,), canary_weight=33.33),
        ),
        (  # a later one
            TrafficSplit(stable=(OLD_B, OLD_C), canary=(NEW_A,), canary_weight=33.33),
            OLD_B,
            NEW_B,
            TrafficSplit(stable=(OLD_C,), canary=(NEW_A, NEW_B), canary_weight=66.67),
        ),
        (  # the last old replica goes: everything on the new version, no canary left
            TrafficSplit(stable=(OLD_C,), canary=(NEW_A, NEW_B), canary_weight=66.67),
            OLD_C,
            NEW_C,
            TrafficSplit(stable=(NEW_A, NEW_B, NEW_C)),
        ),
        (  # rolling back: the stable version comes back into its own pool
            TrafficSplit(stable=(OLD_B,), canary=(NEW_A,), canary_weight=50),
            NEW_A,
            OLD_A,
            TrafficSplit(stable=(OLD_B, OLD_A)),
        ),
        (  # drained before (no surge): the new replica is simply added
            TrafficSplit(stable=(OLD_B, OLD_C)),
            OLD_A,
            NEW_A,
            TrafficSplit(stable=(OLD_B, OLD_C), canary=(NEW_A,), canary_weight=33.33),
        ),
        (  # nothing replaces the only replica: keep routing rather than route to nobody
            TrafficSplit(stable=(OLD_A,)),
            OLD_A,
            None,
            TrafficSplit(stable=(OLD_A,)),
        ),
    ],
)
def test_handover_routes_the_new_replica_in_place_of_the_old(
    before: TrafficSplit, old: Replica, new: Replica | None, after: TrafficSplit
) -> None:
    assert handover_split(before, old=old, new=new) == after
