"""Leader election over the store: lease rows, the fence check, and the elector that renews.

Where it sits: the pure rules are in store/lease.py; this module reads and writes the
`leader_lease` row under a lock (PostgreSQL: an advisory lock for the name, then the row
`FOR UPDATE`; SQLite: the write lock of `BEGIN IMMEDIATE`), so two processes on one
database never both win a term. `check` runs inside the persist transaction of every
action (rollout/journal.py), locking the row `FOR SHARE` so a takeover and a persist
serialise: either the persist commits under the old term first, or it sees the new one
and raises `NotLeader`. Time is the store's clock.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
import socket
from collections.abc import AsyncIterator, Callable
from datetime import datetime
from typing import TYPE_CHECKING

import sqlalchemy as sa
from sqlalchemy.engine import Connection
from sqlalchemy.exc import SQLAlchemyError

from safeship.core.errors import NotLeader, StoreError
from safeship.store.lease import (
    DEFAULT_TTL_S,
    Decision,
    Fence,
    Lease,
    decide,
    refusal,
    released,
    renew_interval,
)
from safeship.store.locks import advisory_key
from safeship.store.schema import leader_lease
from safeship.store.upsert import upsert

if TYPE_CHECKING:
    from safeship.store.repository import Store

log = logging.getLogger(__name__)


def read(conn: Connection, name: str, *, lock: str | None = None) -> Lease | None:
    """The lease row `name`; `lock` "update" or "share" locks it until the transaction ends."""
    query = sa.select(leader_lease).where(leader_lease.c.name == name)
    if lock is not None:
        query = query.with_for_update(read=lock == "share")
    row = conn.execute(query).first()
    return Lease(row.name, row.holder, int(row.token), row.expires_at) if row else None


def claim(conn: Connection, *, name: str, me: str, now: float, ttl: float) -> Decision:
    """Acquire, renew or take over `name` for `me`, or learn who leads it."""
    if conn.dialect.name == "postgresql":
        # FOR UPDATE cannot lock a row that does not exist yet: the advisory lock covers that.
        key = advisory_key(f"safeship.lease.{name}")
        conn.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": key})
    decision = decide(read(conn, name, lock="update"), name=name, me=me, now=now, ttl=ttl)
    if decision.write is not None:
        _write(conn, decision.write)
    return decision


def release(conn: Connection, fence: Fence, *, now: float) -> None:
    """End `fence`'s term now, so a follower need not wait for it to expire."""
    lapsed = released(
        read(conn, fence.name, lock="update"), me=fence.holder, token=fence.token, now=now
    )
    if lapsed is not None:
        _write(conn, lapsed)


def check(conn: Connection, fence: Fence) -> None:
    """Raise `NotLeader` unless `fence` is still the lease's term (compare-and-persist)."""
    if reason := refusal(read(conn, fence.name, lock="share"), fence):
        raise NotLeader(reason)


def _write(conn: Connection, lease: Lease) -> None:
    values = {
        "name": lease.name,
        "holder": lease.holder,
        "token": lease.token,
        "expires_at": lease.expires_at,
    }
    upsert(conn, leader_lease, values, key="name")


def holder_id() -> str:
    """Who I am, readable in logs: host, pid, and a nonce so a reused pid is someone else."""
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(3)}"


def until(ts: float) -> str:
    return datetime.fromtimestamp(ts).astimezone().isoformat(timespec="seconds")


class Elector:
    """Claims the lease `name` every ttl/3 and knows whether this process leads.

    A failed renewal (database unreachable) is logged and retried; leadership then lapses by
    itself when the lease expires, and the fence check refuses any persist meanwhile.
    """

    def __init__(
        self,
        store: Store,
        *,
        name: str,
        holder: str | None = None,
        ttl: float = DEFAULT_TTL_S,
        on_change: Callable[[Decision], None] | None = None,
    ) -> None:
        self.store, self.name, self.ttl = store, name, ttl
        self.holder = holder or holder_id()
        self.on_change = on_change
        self.decision: Decision | None = None

    @property
    def leader(self) -> bool:
        d = self.decision
        return bool(d and d.leader and d.lease and d.lease.live(self.store.clock.now()))

    def fence(self) -> Fence:
        """The term to present with a persist; `NotLeader` if this process is not leading."""
        fence = self.decision.fence if self.decision else None
        if fence is None:
            lease = self.decision.lease if self.decision else None
            who = f"{lease.holder} until {until(lease.expires_at)}" if lease else "nobody"
            raise NotLeader(f"{self.holder} does not lead {self.name} (led by {who})")
        return fence

    def claim(self) -> Decision | None:
        """One round: acquire, renew or follow; None if the database could not be asked."""
        try:
            decision = self.store.claim_lease(self.name, holder=self.holder, ttl=self.ttl)
        except (StoreError, SQLAlchemyError) as exc:
            log.warning("lease %s: could not renew (%s); retrying", self.name, exc)
            return None
        before, self.decision = self.decision, decision
        if before is None or (before.leader, before.fence) != (decision.leader, decision.fence):
            self._log(decision)
            if self.on_change:
                self.on_change(decision)
        return decision

    async def run(self) -> None:
        """Claim forever, every ttl/3 (the first claim at once)."""
        while True:
            await asyncio.to_thread(self.claim)
            await self.store.clock.sleep(renew_interval(self.ttl))

    def release(self) -> None:
        """Let go at once (on a clean exit), so the next leader need not wait for expiry."""
        fence = self.decision.fence if self.decision else None
        if fence is not None:
            with contextlib.suppress(StoreError, SQLAlchemyError):
                self.store.release_lease(fence)
        self.decision = None

    def _log(self, decision: Decision) -> None:
        lease = decision.lease
        assert lease is not None
        if decision.leader:
            log.warning(
                "lease %s: %s leads (term %d, %s)",
                self.name,
                self.holder,
                lease.token,
                decision.reason.value,
            )
        else:
            log.warning(
                "lease %s: following %s (term %d) until %s",
                self.name,
                lease.holder,
                lease.token,
                until(lease.expires_at),
            )


async def take(elector: Elector) -> Decision | None:
    """Claim once; while someone else leads, watch their lease: take it if it lapses (its
    holder died), give up as soon as they renew it (they are alive). Waits at most one TTL."""
    decision = await asyncio.to_thread(elector.claim)
    while decision is not None and not decision.leader and decision.lease is not None:
        seen = decision.lease
        wait = min(renew_interval(elector.ttl), seen.expires_at - elector.store.clock.now())
        await elector.store.clock.sleep(max(wait, 0.0) + 0.05)
        decision = await asyncio.to_thread(elector.claim)
        if decision is not None and not decision.leader and decision.lease != seen:
            return decision  # renewed (or taken) by someone alive
    return decision


@contextlib.asynccontextmanager
async def lead(
    store: Store, *, name: str, what: str, ttl: float = DEFAULT_TTL_S
) -> AsyncIterator[Elector]:
    """Hold the lease `name` for the block (renewed in the background), or raise `NotLeader`
    saying "WHAT is led by HOLDER until T"; released when the block ends."""
    elector = Elector(store, name=name, ttl=ttl)
    decision = await take(elector)
    if decision is None:
        raise StoreError(f"cannot claim the lease {name}: the state database does not answer")
    if not decision.leader:
        lease = decision.lease
        assert lease is not None
        raise NotLeader(f"{what} is led by {lease.holder} until {until(lease.expires_at)}")
    renewing = asyncio.get_running_loop().create_task(elector.run())
    try:
        yield elector
    finally:
        renewing.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await renewing
        await asyncio.to_thread(elector.release)
