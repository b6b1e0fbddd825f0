"""What one probe observed: the value that flows from probes.py into aggregate.py.

Kept apart from the probes so the pure aggregation imports nothing that does I/O.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ProbeResult:
    """The outcome of one probe (after its retries): ok or not, how long, and why."""

    ok: bool
    latency_s: float
    detail: str
