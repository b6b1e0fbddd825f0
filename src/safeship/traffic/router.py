"""The Router protocol: which backends serve a service, and what share goes to the canary."""

from __future__ import annotations

from typing import Protocol

from safeship.core.types import TrafficSplit, VersionCounters


class Router(Protocol):
    """A traffic router for one service."""

    async def apply(self, split: TrafficSplit) -> None:
        """Route per `split`. Backends that leave every pool are drained: their in-flight
        requests finish, they get no new ones, and `apply` returns once they are idle."""
        ...

    def current(self) -> TrafficSplit:
        """The split in force now."""
        ...

    def counters(self) -> dict[str, VersionCounters]:
        """Cumulative request counters per backend version, for analysis."""
        ...
