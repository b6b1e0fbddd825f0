"""Retrying an observation with backoff: tenacity, waiting on the injected `Clock`.

Health probes, pre-deployment checks (rollout/validation.py) and the local fleet's "is the
new replica up yet" all retry the same way; they share tenacity through here, so a fake
clock in tests skips every wait and hours of backoff run in milliseconds.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from tenacity import AsyncRetrying, RetryCallState, retry_if_result, stop_after_attempt
from tenacity.wait import WaitBaseT

from safeship.core.clock import Clock
from safeship.health.result import ProbeResult


def retrying(*, clock: Clock, **options: Any) -> AsyncRetrying:
    """tenacity's AsyncRetrying whose waits go through `clock` (a fake clock skips them)."""
    return AsyncRetrying(sleep=clock.sleep, **options)


async def retry_probe(
    once: Callable[[], Awaitable[ProbeResult]], *, attempts: int, wait: WaitBaseT, clock: Clock
) -> ProbeResult:
    """Up to `attempts` tries of `once`: the first success or the last failure, whose detail
    says how many attempts it took when more than one was allowed."""
    controller = retrying(
        clock=clock,
        stop=stop_after_attempt(attempts),
        wait=wait,
        retry=retry_if_result(lambda result: not result.ok),
        retry_error_callback=_last_result,
    )

    async def attempt() -> ProbeResult:  # tenacity awaits only what is declared `async def`
        return await once()

    result: ProbeResult = await controller(attempt)
    return _noting_attempt(result, controller.statistics["attempt_number"], attempts)


def _last_result(state: RetryCallState) -> ProbeResult:
    assert state.outcome is not None  # tenacity calls back only after an attempt
    result: ProbeResult = state.outcome.result()
    return result


def _noting_attempt(result: ProbeResult, attempt: int, attempts: int) -> ProbeResult:
    if attempts == 1:
        return result
    detail = f"{result.detail} (attempt {attempt} of {attempts})"
    return ProbeResult(result.ok, result.latency_s, detail)
