"""Re-adoption decisions of a restarting agent (agent/adoption.py): adopt only what is ours."""

from __future__ import annotations

import pytest

from safeship.agent.adoption import Adoption, Probe, decide

OURS = 4242


@pytest.mark.parametrize(
    ("pid", "start", "probe", "expected"),
    [
        (100, OURS, Probe(alive=True, start_time=OURS, healthy=True), Adoption.ADOPT),
        (100, OURS, Probe(alive=True, start_time=OURS, healthy=False), Adoption.REPLACE_UNHEALTHY),
        (100, OURS, Probe(alive=False, start_time=None, healthy=False), Adoption.START_DEAD),
        (100, OURS, Probe(alive=True, start_time=9999, healthy=True), Adoption.START_PID_REUSED),
        (100, OURS, Probe(alive=True, start_time=9999, healthy=False), Adoption.START_PID_REUSED),
        (None, None, Probe(alive=False, start_time=None, healthy=False), Adoption.START_NEVER_RAN),
        (100, None, Probe(alive=True, start_time=OURS, healthy=True), Adoption.START_NEVER_RAN),
    ],
)
def test_decision(pid: int | None, start: int | None, probe: Probe, expected: Adoption) -> None:
    assert decide(recorded_pid=pid, recorded_start=start, probe=probe) is expected


def test_only_adoption_keeps_the_process_and_only_ours_unhealthy_is_stopped() -> None:
    assert [a for a in Adoption if a.keeps_process] == [Adoption.ADOPT]
    # a reused pid belongs to a stranger: never signalled
    assert [a for a in Adoption if a.stops_process] == [Adoption.REPLACE_UNHEALTHY]
