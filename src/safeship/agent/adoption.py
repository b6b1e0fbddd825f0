"""Whether a restarted agent adopts a process it recorded, or starts the unit afresh.

Pure: the daemon probes the recorded pid (is it alive, its /proc start time, does its port
answer health) and asks `decide`. The start time is what tells "our process" from "a
stranger who got the same pid after ours died"; a process of ours that no longer answers is
stopped before a fresh one starts, so a unit never runs twice.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum


class Adoption(Enum):
    """Every way a recorded process is handled when the agent comes back."""

    ADOPT = "adopt"  # ours, alive and healthy: keep it, start nothing
    REPLACE_UNHEALTHY = "replace-unhealthy"  # ours and alive but not answering: stop, start new
    START_DEAD = "start-dead"  # the pid is gone: start new
    START_PID_REUSED = "start-pid-reused"  # the pid now belongs to another process: leave it
    START_NEVER_RAN = "start-never-ran"  # nothing was recorded (or no start time): start new

    @property
    def keeps_process(self) -> bool:
        return self is Adoption.ADOPT

    @property
    def stops_process(self) -> bool:
        return self is Adoption.REPLACE_UNHEALTHY


@dataclass(frozen=True)
class Probe:
    """What the daemon saw of a recorded pid: alive (not a zombie), its start time, health."""

    alive: bool
    start_time: int | None
    healthy: bool


def decide(*, recorded_pid: int | None, recorded_start: int | None, probe: Probe) -> Adoption:
    """Adopt only a live process whose start time is the recorded one and that answers."""
    if recorded_pid is None or recorded_start is None:
        return Adoption.START_NEVER_RAN
    if not probe.alive:
        return Adoption.START_DEAD
    if probe.start_time != recorded_start:
        return Adoption.START_PID_REUSED
    return Adoption.ADOPT if probe.healthy else Adoption.REPLACE_UNHEALTHY
