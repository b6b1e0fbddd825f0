"""Fakes that our tests and users' tests share (see STYLE.md: fakes are part of the product)."""

from __future__ import annotations

import asyncio

from safeship.fleet.local import free_port

__all__ = ["FakeClock", "free_port"]


class FakeClock:
    """A virtual clock: `sleep` advances time at once, so hours of rollout run in milliseconds."""

    def __init__(self, start: float = 1_700_000_000.0) -> None:
        self._now = start

    def now(self) -> float:
        return self._now

    def advance(self, seconds: float) -> None:
        self._now += max(0.0, seconds)

    async def sleep(self, seconds: float) -> None:
        self.advance(seconds)
        await asyncio.sleep(0)
