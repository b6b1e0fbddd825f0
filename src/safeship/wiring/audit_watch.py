"""`safeship serve` checks its audit chain itself, so tampering raises an alert.

Every `interval_s` it runs what `safeship audit verify` runs (store/audit.py, in a thread:
the walk reads the whole chain) and exports the outcome: `safeship_audit_verified` is 1
when the chain and its signed checkpoints are intact, 0 when they were altered (the default
rule SafeshipAuditVerificationFailing fires on 0), and
`safeship_audit_last_verification_timestamp_seconds` says when it last ran.
"""

from __future__ import annotations

import asyncio
import logging

from prometheus_client import CollectorRegistry, Gauge
from sqlalchemy.exc import SQLAlchemyError

from safeship.core.clock import Clock
from safeship.core.errors import SafeshipError
from safeship.store.repository import Store

AUDIT_VERIFY_INTERVAL_S = 600.0
log = logging.getLogger(__name__)


class AuditWatch:
    def __init__(
        self,
        store: Store,
        *,
        registry: CollectorRegistry,
        clock: Clock,
        interval_s: float = AUDIT_VERIFY_INTERVAL_S,
    ) -> None:
        self._store, self._clock, self._interval_s = store, clock, interval_s
        self._verified = Gauge(
            "safeship_audit_verified",
            "1 if the last verification of the audit chain passed, 0 if it found it altered.",
            registry=registry,
        )
        self._last = Gauge(
            "safeship_audit_last_verification_timestamp_seconds",
            "When the audit chain was last verified (Unix time).",
            registry=registry,
        )

    def check(self) -> bool | None:
        """Verify once and export the outcome; None when the store could not be read."""
        try:
            ok = self._store.verify_audit().ok
        except (SafeshipError, SQLAlchemyError) as exc:  # unreadable is not tampered
            log.warning("cannot verify the audit chain: %s", exc)
            return None
        self._verified.set(1.0 if ok else 0.0)
        self._last.set(self._clock.now())
        if not ok:
            log.error("the audit chain failed verification: run `safeship audit verify`")
        return ok

    async def run(self) -> None:
        while True:
            await asyncio.to_thread(self.check)
            await self._clock.sleep(self._interval_s)
