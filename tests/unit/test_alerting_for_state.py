"""Pending alerts after a restart, as Prometheus' RestoreForState with a for-grace period."""

from __future__ import annotations

import math

import pytest

from safeship.alerting.evaluator import Alert, State
from safeship.alerting.for_state import restored
from safeship.core.labels import make_labels

M = 60_000
NOW = 100 * M
LABELS = make_labels({"alertname": "A"})


def alert(state: State, active_at: int) -> Alert:
    return Alert(LABELS, (), state, 1.0, active_at_ms=active_at)


@pytest.mark.parametrize(
    ("state", "active_at", "hold", "down_at", "expected"),
    [
        # firing and resolved alerts come back as they were saved
        (State.FIRING, NOW - 30 * M, 15 * M, NOW - 10 * M, NOW - 30 * M),
        (State.INACTIVE, NOW - 30 * M, 15 * M, None, NOW - 30 * M),
        # nothing replayed: the outage is unknown, pending starts over
        (State.PENDING, NOW - 30 * M, 15 * M, None, NOW),
        # `for` shorter than the grace: pending starts over, it waits its whole `for`
        (State.PENDING, NOW - 8 * M, 5 * M, NOW - 6 * M, NOW),
        # `for` already over when it went down: kept, fires at the next evaluation
        (State.PENDING, NOW - 30 * M, 15 * M, NOW - 10 * M, NOW - 30 * M),
        # 5m of 15m left (< 10m grace): not before 10m from now
        (State.PENDING, NOW - 20 * M, 15 * M, NOW - 10 * M, NOW + 10 * M - 15 * M),
        # 15m of 30m left: the 10m down does not count as pending
        (State.PENDING, NOW - 25 * M, 30 * M, NOW - 10 * M, NOW - 15 * M),
    ],
)
def test_restored_active_at(
    state: State, active_at: int, hold: int, down_at: int | None, expected: int
) -> None:
    got = restored(
        alert(state, active_at), hold_ms=hold, grace_ms=10 * M, down_at_ms=down_at, now_ms=NOW
    )
    assert got.active_at_ms == expected and got.state is state and not math.isnan(got.value)
