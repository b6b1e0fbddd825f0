"""Retries with backoff go through tenacity and wait on the injected clock (health/retry.py)."""

from __future__ import annotations

import asyncio
import time

from tenacity import wait_exponential

from safeship.core.clock import VirtualClock
from safeship.health.result import ProbeResult
from safeship.health.retry import retry_probe


def test_backoff_waits_on_the_fake_clock_and_takes_no_real_time() -> None:
    clock = VirtualClock(start=0.0)
    seen: list[float] = []

    async def once() -> ProbeResult:
        seen.append(clock.now())
        return ProbeResult(False, 0.0, "down")

    started = time.perf_counter()
    result = asyncio.run(
        retry_probe(once, attempts=6, wait=wait_exponential(multiplier=10, max=60), clock=clock)
    )
    assert time.perf_counter() - started < 0.5
    assert seen == [0.0, 10.0, 30.0, 70.0, 130.0, 190.0]  # 10, 20, 40, then capped at 60
    assert result == ProbeResult(False, 0.0, "down (attempt 6 of 6)")


def test_first_success_ends_the_retries() -> None:
    clock = VirtualClock(start=0.0)
    answers = iter([False, True, False])

    async def once() -> ProbeResult:
        return ProbeResult(next(answers), 0.1, "ok?")

    result = asyncio.run(retry_probe(once, attempts=3, wait=wait_exponential(), clock=clock))
    assert result == ProbeResult(True, 0.1, "ok? (attempt 2 of 3)")


def test_a_single_attempt_is_reported_as_is() -> None:
    async def once() -> ProbeResult:
        return ProbeResult(False, 0.0, "down")

    result = asyncio.run(
        retry_probe(once, attempts=1, wait=wait_exponential(), clock=VirtualClock())
    )
    assert result.detail == "down"
