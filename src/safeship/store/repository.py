"""The store: where every state change lands (SQLite by default, PostgreSQL by URL).

`Store.open` connects and migrates; each plain method is its own transaction, and
`store.transaction()` groups several operations (e.g. save a rollout and audit it) into one.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from types import TracebackType
from typing import Any

from sqlalchemy.engine import Engine
from sqlalchemy.exc import DBAPIError, IntegrityError, SQLAlchemyError

from safeship.core.clock import Clock, SystemClock
from safeship.core.errors import Conflict, StoreError
from safeship.store.audit_key import AuditKey, load_key, write_head
from safeship.store.engine import READ_ONLY, create_engine, default_url
from safeship.store.incidents import IncidentRows
from safeship.store.lease import Decision, Fence, Lease
from safeship.store.migrate import upgrade_to_head
from safeship.store.outbox import OutboxEntry, OutboxRow, OutboxStatus
from safeship.store.records import AuditEntry, AuditVerification, RequestRecord, RolloutRecord
from safeship.store.rollouts import Cursor
from safeship.store.silences import SilenceRecord
from safeship.store.tokens import Role, TokenRecord, needs_touch
from safeship.store.transaction import Transaction


class Store:
    """Rollouts, services' stable versions and the hash-chained audit log."""

    def __init__(self, engine: Engine, *, clock: Clock | None = None) -> None:
        self._engine = engine
        self._clock: Clock = clock or SystemClock()
        self._key: AuditKey | None = None

    @classmethod
    def open(cls, url: str | None = None, *, clock: Clock | None = None) -> Store:
        """Connect to `url` ($SAFESHIP_DB or ./.safeship/state.db if None) and migrate to head."""
        engine = create_engine(url or default_url())
        try:
            upgrade_to_head(engine)
        except SQLAlchemyError as exc:
            engine.dispose()
            shown = engine.url.render_as_string(hide_password=True)
            cause = exc.orig if isinstance(exc, DBAPIError) else exc
            raise StoreError(f"cannot open the state database {shown}: {cause}") from exc
        return cls(engine, clock=clock)

    @property
    def url(self) -> str:
        """The database URL with any password hidden, for messages."""
        return self._engine.url.render_as_string(hide_password=True)

    @property
    def dialect(self) -> str:
        return self._engine.dialect.name

    @property
    def clock(self) -> Clock:
        """The clock that stamps rows and times leases."""
        return self._clock

    def close(self) -> None:
        self._engine.dispose()

    def __enter__(self) -> Store:
        return self

    def __exit__(
        self,
        _type: type[BaseException] | None,
        _exc: BaseException | None,
        _tb: TracebackType | None,
    ) -> None:
        self.close()

    @contextmanager
    def transaction(self) -> Iterator[Transaction]:
        """A write transaction: commits when the block ends, rolls back if it raises."""
        with self._engine.begin() as conn:
            tx = Transaction(conn, self._clock, self._audit_key)
            yield tx
        if tx.signed is not None:  # committed: keep the newest checkpoint outside, too
            write_head(self._audit_key(), *tx.signed)

    @contextmanager
    def _reading(self) -> Iterator[Transaction]:
        # Read-only work need not queue behind writers for SQLite's write lock.
        with self._engine.connect() as conn, conn.execution_options(**{READ_ONLY: True}).begin():
            yield Transaction(conn, self._clock, self._audit_key)

    @contextmanager
    def read_incidents(self) -> Iterator[IncidentRows]:
        """Incidents, their timeline and actions, read in one read-only transaction."""
        with self._reading() as tx:
            yield tx.incidents

    def _audit_key(self) -> AuditKey:
        """The key that signs checkpoints, made on first use (store/audit_key.py)."""
        if self._key is None:
            self._key = load_key(self._url, create=True)
            assert self._key is not None
        return self._key

    @property
    def _url(self) -> str:
        return self._engine.url.render_as_string(hide_password=False)

    def save_rollout(self, record: RolloutRecord) -> None:
        with self.transaction() as tx:
            tx.save_rollout(record)

    def get_rollout(self, rollout_id: str) -> RolloutRecord | None:
        with self._reading() as tx:
            return tx.get_rollout(rollout_id)

    def list_rollouts(self, *, service: str | None = None, limit: int = 50) -> list[RolloutRecord]:
        with self._reading() as tx:
            return tx.list_rollouts(service=service, limit=limit)

    def active_rollout(self, service: str) -> RolloutRecord | None:
        with self._reading() as tx:
            return tx.active_rollout(service)

    def stable_version(self, service: str) -> str | None:
        with self._reading() as tx:
            return tx.stable_version(service)

    def set_stable_version(self, service: str, version: str) -> None:
        with self.transaction() as tx:
            tx.set_stable_version(service, version)

    def audit(
        self,
        *,
        actor: str,
        action: str,
        reason: str = "",
        rollout_id: str | None = None,
        service: str | None = None,
        details: Mapping[str, Any] | None = None,
    ) -> AuditEntry:
        with self.transaction() as tx:
            return tx.audit(
                actor=actor,
                action=action,
                reason=reason,
                rollout_id=rollout_id,
                service=service,
                details=details,
            )

    def pending_requests(self, rollout_id: str) -> list[RequestRecord]:
        with self._reading() as tx:
            return tx.pending_requests(rollout_id)

    def audit_entries(
        self, *, rollout_id: str | None = None, limit: int | None = None
    ) -> list[AuditEntry]:
        with self._reading() as tx:
            return tx.audit_entries(rollout_id=rollout_id, limit=limit)

    def checkpoint_audit(self) -> None:
        with self.transaction() as tx:
            tx.checkpoint_audit()

    def verify_audit(self) -> AuditVerification:
        key = self._key or load_key(self._url, create=False)
        with self._reading() as tx:
            return tx.verify_audit(key)

    def rollouts_changed_since(
        self, after: Cursor | None, *, limit: int = 100
    ) -> list[RolloutRecord]:
        with self._reading() as tx:
            return tx.rollouts_changed_since(after, limit=limit)

    def newest_rollout_change(self) -> Cursor | None:
        with self._reading() as tx:
            return tx.newest_rollout_change()

    def create_token(self, *, name: str, role: Role, actor: str) -> tuple[TokenRecord, str]:
        """A new token (shown once) and its audit entry, in one transaction."""
        try:
            with self.transaction() as tx:
                return tx.create_token(name=name, role=role, actor=actor)
        except IntegrityError as exc:  # a concurrent create of the same name won the race
            raise Conflict(f"a token named {name!r} exists; pick another name") from exc

    def revoke_token(self, name: str, *, actor: str) -> TokenRecord:
        with self.transaction() as tx:
            return tx.revoke_token(name, actor=actor)

    def tokens(self) -> list[TokenRecord]:
        with self._reading() as tx:
            return tx.tokens()

    def silences(self, *, ended_after: float | None = None) -> list[SilenceRecord]:
        with self._reading() as tx:
            return tx.silences(ended_after=ended_after)

    def authenticate(self, token: str) -> TokenRecord | None:
        """The record of a valid token (its last use noted, to the minute), else None."""
        with self._reading() as tx:
            record = tx.verify_token(token)
        if record is not None and needs_touch(record, now=self._clock.now()):
            with self.transaction() as tx:
                tx.touch_token(record)
        return record

    def lease(self, name: str) -> Lease | None:
        with self._reading() as tx:
            return tx.lease(name)

    def claim_lease(self, name: str, *, holder: str, ttl: float) -> Decision:
        with self.transaction() as tx:
            return tx.claim_lease(name, holder=holder, ttl=ttl)

    def release_lease(self, fence: Fence) -> None:
        with self.transaction() as tx:
            tx.release_lease(fence)

    def submit_notifications(self, entries: Sequence[OutboxEntry]) -> int:
        """Persist notifications in one transaction; returns how many were new."""
        with self.transaction() as tx:
            return tx.submit_notifications(entries)

    def claim_notifications(self, *, limit: int, hold_s: float) -> list[OutboxRow]:
        with self.transaction() as tx:
            return tx.claim_notifications(limit=limit, hold_s=hold_s)

    def notification_delivered(self, row_id: int) -> None:
        with self.transaction() as tx:
            tx.notification_delivered(row_id)

    def notification_failed(self, row_id: int, *, error: str, retry_at: float | None) -> None:
        with self.transaction() as tx:
            tx.notification_failed(row_id, error=error, retry_at=retry_at)

    def notifications(
        self, *, status: OutboxStatus | None = None, limit: int = 100
    ) -> list[OutboxRow]:
        with self._reading() as tx:
            return tx.notifications(status=status, limit=limit)

    def retry_notification(self, row_id: int, *, actor: str) -> OutboxRow:
        with self.transaction() as tx:
            return tx.retry_notification(row_id, actor=actor)

    def notification_depth(self) -> dict[str, int]:
        with self._reading() as tx:
            return tx.notification_depth()

    def prune_notifications(self, *, before: float) -> int:
        """Forget notifications delivered before `before` (dead letters stay)."""
        with self.transaction() as tx:
            return tx.prune_notifications(before=before)

    def next_notification_due(self) -> float | None:
        with self._reading() as tx:
            return tx.next_notification_due()
