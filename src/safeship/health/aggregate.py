"""Pure aggregation of probe results into healthy / degraded / unhealthy.

Probes (health/probes.py) observe; this module decides. Rollout gates and `safeship health`
read the resulting `HealthReport`; `fleet_health` folds per-target states into one for a gate.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum

from safeship.health.result import ProbeResult


class HealthState(StrEnum):
    """Ordered from best to worst; `worst` relies on the declaration order."""

    HEALTHY = "healthy"
    DEGRADED = "degraded"
    UNHEALTHY = "unhealthy"


@dataclass(frozen=True)
class CheckResult:
    """One named check's result; a failing critical check makes its target unhealthy."""

    name: str
    result: ProbeResult
    critical: bool = True


@dataclass(frozen=True)
class HealthReport:
    """The state of one target and the checks that failed (for people: say which and why)."""

    state: HealthState
    failing: tuple[CheckResult, ...]
    checks: tuple[CheckResult, ...]

    def summary(self) -> str:
        if not self.failing:
            return f"{self.state}: {len(self.checks)} checks passed"
        reasons = "; ".join(f"{c.name}: {c.result.detail}" for c in self.failing)
        return f"{self.state}: {reasons}"


def aggregate(results: Sequence[CheckResult]) -> HealthReport:
    """Any critical failure → unhealthy; only non-critical failures → degraded; else healthy."""
    failing = tuple(c for c in results if not c.result.ok)
    if any(c.critical for c in failing):
        state = HealthState.UNHEALTHY
    elif failing:
        state = HealthState.DEGRADED
    else:
        state = HealthState.HEALTHY
    return HealthReport(state=state, failing=failing, checks=tuple(results))


def fleet_health(
    per_target: Mapping[str, HealthState], *, max_unhealthy_ratio: float
) -> HealthState:
    """One state for a fleet, for rollout gates.

    Unhealthy when no target exists or more than `max_unhealthy_ratio` of them are unhealthy;
    degraded when some are unhealthy (within the ratio) or degraded; healthy otherwise.
    """
    if not 0.0 <= max_unhealthy_ratio <= 1.0:
        raise ValueError(f"max_unhealthy_ratio must be within 0..1, found {max_unhealthy_ratio}")
    if not per_target:
        return HealthState.UNHEALTHY
    states = list(per_target.values())
    unhealthy = states.count(HealthState.UNHEALTHY)
    if unhealthy / len(states) > max_unhealthy_ratio:
        return HealthState.UNHEALTHY
    return worst([HealthState.DEGRADED if s is HealthState.UNHEALTHY else s for s in states])


def worst(states: Sequence[HealthState]) -> HealthState:
    """The worst of `states` (healthy when empty)."""
    order = list(HealthState)
    return max(states, key=order.index, default=HealthState.HEALTHY)
