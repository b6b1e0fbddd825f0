"""The `none` router: traffic is someone else's business (flagger's `router/nop.go`).

For target strategies (rolling, waves) behind a load balancer safeship does not steer: moving
a target *is* the rollout, so `apply` only remembers the split, there are no counters and
nothing listens (`start` and `stop` do nothing).
"""

from __future__ import annotations

from safeship.core.types import TrafficSplit, VersionCounters


class NopRouter:
    """A `Router` that routes nothing and counts nothing."""

    def __init__(self) -> None:
        self._split = TrafficSplit(stable=())

    async def start(self) -> None:
        """Nothing to listen on: clients reach the targets some other way."""

    async def stop(self) -> None:
        """Nothing to drain."""

    async def apply(self, split: TrafficSplit) -> None:
        self._split = split

    def current(self) -> TrafficSplit:
        return self._split

    def counters(self) -> dict[str, VersionCounters]:
        return {}
