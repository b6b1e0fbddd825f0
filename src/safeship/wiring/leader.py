"""Leadership of `safeship serve`: on PostgreSQL, one control plane leads, the others follow.

Where it sits: `wiring/serve.py` starts the task this module builds. The elector
(store/leadership.py) claims the lease `control-plane` every ttl/3 and logs each transition;
`safeship_leader{holder}` is 1 while this process leads. A follower keeps serving reads and
takes over when the leader's lease lapses. Work that acts (reconcilers) takes the elector's
`fence` into its journal, so only the current term can persist, hence act.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass

from prometheus_client import CollectorRegistry, Gauge

from safeship.core.clock import Clock
from safeship.store.leadership import Elector
from safeship.store.lease import Decision
from safeship.store.repository import Store

LEASE_NAME = "control-plane"


@dataclass
class Leading:
    """Whether this process may act alone (route alerts): always on SQLite; on PostgreSQL
    while the elector holds the lease."""

    elector: Elector | None = None

    def __call__(self) -> bool:
        return self.elector is None or self.elector.leader


def start_leadership(
    url: str, *, registry: CollectorRegistry, clock: Clock
) -> tuple[list[asyncio.Task[None]], Elector | None]:
    """The elector task for the database at `url`, and the elector whose `fence` the
    reconcilers carry; none on SQLite, where one file means one machine and `serve` is a
    single process anyway (it always leads)."""
    if not url.startswith("postgresql"):
        return [], None
    store = Store.open(url, clock=clock)
    gauge = Gauge(
        "safeship_leader",
        "1 while this control plane holds the leader lease, else 0",
        ["holder"],
        registry=registry,
    )
    elector = Elector(store, name=LEASE_NAME)
    leading = gauge.labels(holder=elector.holder)
    leading.set(0)

    def show(decision: Decision) -> None:
        leading.set(1 if decision.leader else 0)

    elector.on_change = show
    return [asyncio.get_running_loop().create_task(_keep(elector, store))], elector


async def _keep(elector: Elector, store: Store) -> None:
    """Claim until cancelled, then hand the lease back at once so a follower need not wait."""
    try:
        await elector.run()
    finally:
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.to_thread(elector.release)
        store.close()
