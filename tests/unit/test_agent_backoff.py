"""Restart backoff of the agent (agent/backoff.py): systemd's RestartSec steps and start limit."""

from __future__ import annotations

import pytest

from safeship.agent.backoff import GiveUp, Restart, RestartPolicy, after_crash, restart_delay

POLICY = RestartPolicy(initial=0.5, factor=2.0, cap=4.0, burst=4, interval=60.0)


@pytest.mark.parametrize(
    ("crash_count", "delay"), [(1, 0.5), (2, 1.0), (3, 2.0), (4, 4.0), (5, 4.0), (9, 4.0)]
)
def test_delay_doubles_per_crash_up_to_the_cap(crash_count: int, delay: float) -> None:
    assert restart_delay(POLICY, crash_count) == delay


def test_first_crash_restarts_after_the_initial_delay() -> None:
    history, verdict = after_crash(POLICY, (), now=100.0)
    assert history == (100.0,)
    assert verdict == Restart(at=100.5, delay=0.5)


def test_crashes_in_a_row_wait_longer_each_time() -> None:
    history: tuple[float, ...] = ()
    delays = []
    for now in (100.0, 101.0, 103.0, 107.0):
        history, verdict = after_crash(POLICY, history, now)
        assert isinstance(verdict, Restart)
        delays.append(verdict.delay)
    assert delays == [0.5, 1.0, 2.0, 4.0]


def test_more_crashes_than_the_burst_within_the_interval_give_up() -> None:
    history = (100.0, 101.0, 103.0, 107.0)
    history, verdict = after_crash(POLICY, history, now=115.0)
    assert isinstance(verdict, GiveUp)
    assert "5 times within 60s" in verdict.reason


def test_crashes_older_than_the_interval_are_forgotten() -> None:
    history, verdict = after_crash(POLICY, (10.0, 20.0, 30.0, 40.0), now=200.0)
    assert history == (200.0,)
    assert verdict == Restart(at=200.5, delay=0.5)


def test_only_crashes_inside_the_window_count_towards_the_delay() -> None:
    _, verdict = after_crash(POLICY, (10.0, 150.0), now=160.0)
    assert verdict == Restart(at=161.0, delay=1.0)
