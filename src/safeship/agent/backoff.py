"""When to restart a crashed process, and when to give up: systemd's `Restart=on-failure`.

Pure: the supervisor hands in a unit's crash history and the time, and gets back the new
history and a verdict. The delay starts at `initial` and doubles per crash still inside the
start-limit window (`RestartSec` stepping up to `cap`); more than `burst` crashes within
`interval` seconds is `StartLimitBurst` exceeded, and the unit is left failed until its
desired state changes (the agent's `reset-failed`).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class RestartPolicy:
    """Seconds before a restart, doubling to `cap`; at most `burst` crashes per `interval`."""

    initial: float = 0.2
    factor: float = 2.0
    cap: float = 10.0
    burst: int = 5
    interval: float = 60.0


@dataclass(frozen=True)
class Restart:
    """Start the unit again at `at` (unix seconds)."""

    at: float
    delay: float


@dataclass(frozen=True)
class GiveUp:
    """Too many crashes in the window: the unit is failed; `reason` says so for people."""

    reason: str


def after_crash(
    policy: RestartPolicy, crashes: tuple[float, ...], now: float
) -> tuple[tuple[float, ...], Restart | GiveUp]:
    """The crash history including this crash at `now` (older ones dropped), and the verdict."""
    recent = (*(t for t in crashes if now - t < policy.interval), now)
    if len(recent) > policy.burst:
        reason = f"crashed {len(recent)} times within {policy.interval:g}s (start limit hit)"
        return recent, GiveUp(reason)
    delay = restart_delay(policy, len(recent))
    return recent, Restart(at=now + delay, delay=delay)


def restart_delay(policy: RestartPolicy, crash_count: int) -> float:
    """The wait before restart number `crash_count` (1 for the first crash)."""
    steps = max(0, crash_count - 1)
    return float(min(policy.cap, policy.initial * policy.factor**steps))
