"""Running a target's named checks together and aggregating them into one `HealthReport`.

The glue between probes.py (I/O) and aggregate.py (pure): the probes run concurrently, so a
target's health takes as long as its slowest check, not the sum.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass

from safeship.health.aggregate import CheckResult, HealthReport, aggregate
from safeship.health.probes import Probe


@dataclass(frozen=True)
class Check:
    """A named probe; a failing critical check makes its target unhealthy, others degrade it."""

    name: str
    probe: Probe
    critical: bool = True


async def run_checks(checks: Sequence[Check]) -> HealthReport:
    """Probe every check concurrently and aggregate the results."""
    results = await asyncio.gather(*(c.probe.probe() for c in checks))
    return aggregate(
        [CheckResult(c.name, r, critical=c.critical) for c, r in zip(checks, results, strict=True)]
    )
