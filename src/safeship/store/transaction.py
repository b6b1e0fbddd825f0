"""One unit of work against the store: everything done through a `Transaction` commits together.

The reconciler saves its new status and the audit record of what it is about to do in one
transaction, before acting, so a crash never leaves an action without its record.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from sqlalchemy.engine import Connection

from safeship.core.clock import Clock
from safeship.store import audit as audit_rows
from safeship.store import leadership as lease_rows
from safeship.store import notification_log as log_rows
from safeship.store import outbox as outbox_rows
from safeship.store import requests as request_rows
from safeship.store import rollouts as rollout_rows
from safeship.store import silences as silence_rows
from safeship.store import tokens as token_rows
from safeship.store.audit_key import AuditKey, read_head
from safeship.store.incidents import IncidentRows
from safeship.store.lease import Decision, Fence, Lease
from safeship.store.notification_log import LogRecord
from safeship.store.outbox import OutboxEntry, OutboxRow, OutboxStatus
from safeship.store.records import (
    AuditEntry,
    AuditVerification,
    Checkpoint,
    RequestRecord,
    RolloutRecord,
)
from safeship.store.rollouts import Cursor
from safeship.store.silences import SilenceRecord
from safeship.store.tokens import Role, TokenRecord


class Transaction:
    """Repository operations bound to one open database transaction."""

    def __init__(
        self, connection: Connection, clock: Clock, audit_key: Callable[[], AuditKey]
    ) -> None:
        self._conn = connection
        self._clock = clock
        self._audit_key = audit_key
        self.signed: tuple[str, Checkpoint] | None = None  # (chain genesis, newest checkpoint)

    def save_rollout(self, record: RolloutRecord) -> None:
        """Insert or overwrite the rollout with `record.id`."""
        rollout_rows.save_rollout(self._conn, record)

    def get_rollout(self, rollout_id: str) -> RolloutRecord | None:
        return rollout_rows.get_rollout(self._conn, rollout_id)

    def list_rollouts(self, *, service: str | None = None, limit: int = 50) -> list[RolloutRecord]:
        """Newest first."""
        return rollout_rows.list_rollouts(self._conn, service=service, limit=limit)

    def active_rollout(self, service: str) -> RolloutRecord | None:
        """The newest unfinished rollout of `service`."""
        return rollout_rows.active_rollout(self._conn, service)

    def stable_version(self, service: str) -> str | None:
        return rollout_rows.stable_version(self._conn, service)

    def set_stable_version(self, service: str, version: str) -> None:
        now = self._clock.now()
        rollout_rows.set_stable_version(self._conn, service=service, version=version, now=now)

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
        """Append a hash-chained entry stamped with the store's clock; secrets are redacted."""
        entry = audit_rows.append(
            self._conn,
            ts=self._clock.now(),
            actor=actor,
            action=action,
            reason=reason,
            rollout_id=rollout_id,
            service=service,
            details=details,
        )
        if entry.id % audit_rows.CHECKPOINT_EVERY == 0:
            self.checkpoint_audit()
        return entry

    def checkpoint_audit(self) -> None:
        """Sign the chain head with the audit key (a no-op if it is signed already)."""
        signed = audit_rows.checkpoint(
            self._conn, key=self._audit_key().secret, ts=self._clock.now()
        )
        genesis = audit_rows.genesis_hash(self._conn)
        if signed is not None and genesis is not None:
            self.signed = (genesis, signed)

    def audit_entries(
        self, *, rollout_id: str | None = None, limit: int | None = None
    ) -> list[AuditEntry]:
        """Oldest first; with `limit`, the newest `limit` entries."""
        return audit_rows.entries(self._conn, rollout_id=rollout_id, limit=limit)

    def verify_audit(self, key: AuditKey | None) -> AuditVerification:
        """Recompute the whole chain and check every signed checkpoint against it."""
        genesis = audit_rows.genesis_hash(self._conn)
        head = read_head(key, genesis) if key is not None and genesis is not None else None
        return audit_rows.verify(self._conn, key=key.secret if key else None, head=head)

    def add_request(
        self,
        *,
        rollout_id: str,
        kind: str,
        actor: str,
        reason: str = "",
        options: Mapping[str, Any] | None = None,
    ) -> int:
        """Queue a command for the controller running `rollout_id`; returns its id."""
        return request_rows.add(
            self._conn,
            rollout_id=rollout_id,
            kind=kind,
            actor=actor,
            reason=reason,
            options=options or {},
            now=self._clock.now(),
        )

    def pending_requests(self, rollout_id: str) -> list[RequestRecord]:
        """Commands not yet handled, oldest first."""
        return request_rows.pending(self._conn, rollout_id)

    def mark_requests_handled(self, ids: list[int]) -> None:
        request_rows.mark_handled(self._conn, ids, now=self._clock.now())

    def rollouts_changed_since(self, after: Cursor | None, *, limit: int) -> list[RolloutRecord]:
        """Rollouts saved after the cursor, oldest change first (the API's event stream)."""
        return rollout_rows.changed_since(self._conn, after, limit=limit)

    def newest_rollout_change(self) -> Cursor | None:
        return rollout_rows.newest_change(self._conn)

    def create_token(self, *, name: str, role: Role, actor: str) -> tuple[TokenRecord, str]:
        """A new API token and its audit entry; the token is returned once, never stored."""
        record, token = token_rows.create(
            self._conn, name=name, role=role, created_by=actor, now=self._clock.now()
        )
        self.audit(actor=actor, action="create token", details={"name": name, "role": role})
        return record, token

    def revoke_token(self, name: str, *, actor: str) -> TokenRecord:
        """Delete the token named `name`, audited; it stops working at once."""
        record = token_rows.revoke(self._conn, name)
        details = {"name": name, "role": record.role}
        self.audit(actor=actor, action="revoke token", details=details)
        return record

    def tokens(self) -> list[TokenRecord]:
        return token_rows.listing(self._conn)

    def save_silence(self, record: SilenceRecord, *, actor: str, action: str) -> None:
        """Store a new or changed silence and audit it (`action`: what was done)."""
        silence_rows.save(self._conn, record)
        details = {"id": record.id, "matchers": list(record.matchers), "ends_at": record.ends_at}
        self.audit(actor=actor, action=action, reason=record.comment, details=details)

    def silence(self, silence_id: str) -> SilenceRecord | None:
        return silence_rows.get(self._conn, silence_id)

    def silences(self, *, ended_after: float | None = None) -> list[SilenceRecord]:
        return silence_rows.listing(self._conn, ended_after=ended_after)

    def verify_token(self, token: str) -> TokenRecord | None:
        return token_rows.verify(self._conn, token)

    def touch_token(self, record: TokenRecord) -> None:
        token_rows.touch(self._conn, record, now=self._clock.now())

    def lease(self, name: str) -> Lease | None:
        return lease_rows.read(self._conn, name)

    def claim_lease(self, name: str, *, holder: str, ttl: float) -> Decision:
        """Acquire, renew or take over the lease `name` for `holder` (store/lease.py decides)."""
        return lease_rows.claim(self._conn, name=name, me=holder, now=self._clock.now(), ttl=ttl)

    def release_lease(self, fence: Fence) -> None:
        lease_rows.release(self._conn, fence, now=self._clock.now())

    @property
    def incidents(self) -> IncidentRows:
        """Incidents, their timeline and actions, in this transaction (store/incidents.py)."""
        return IncidentRows(self._conn)

    def check_fence(self, fence: Fence) -> None:
        """Raise `NotLeader` unless `fence` is still the lease's term; the row stays locked
        until this transaction ends, so no takeover slips in between check and commit."""
        lease_rows.check(self._conn, fence)

    def submit_notifications(self, entries: Sequence[OutboxEntry]) -> int:
        """Persist notifications before anything is sent; ones stored already are skipped."""
        return outbox_rows.submit(self._conn, entries, now=self._clock.now())

    def claim_notifications(self, *, limit: int, hold_s: float) -> list[OutboxRow]:
        return outbox_rows.claim(self._conn, now=self._clock.now(), limit=limit, hold_s=hold_s)

    def notification_delivered(self, row_id: int) -> None:
        outbox_rows.delivered(self._conn, row_id, now=self._clock.now())

    def notification_failed(self, row_id: int, *, error: str, retry_at: float | None) -> None:
        outbox_rows.failed(self._conn, row_id, error=error, retry_at=retry_at)

    def notifications(
        self, *, status: OutboxStatus | None = None, limit: int = 100
    ) -> list[OutboxRow]:
        return outbox_rows.listing(self._conn, status=status, limit=limit)

    def retry_notification(self, row_id: int, *, actor: str) -> OutboxRow:
        """Requeue a dead letter, audited."""
        row = outbox_rows.requeue(self._conn, row_id, now=self._clock.now())
        details = {"id": row_id, "receiver": row.receiver, "group_key": row.group_key}
        self.audit(actor=actor, action="retry notification", details=details)
        return row

    def notification_depth(self) -> dict[str, int]:
        return outbox_rows.depth(self._conn)

    def prune_notifications(self, *, before: float) -> int:
        return outbox_rows.prune(self._conn, before=before)

    def next_notification_due(self) -> float | None:
        return outbox_rows.next_due(self._conn)

    def save_notification_log(self, records: Sequence[LogRecord]) -> None:
        """Record what each group's receiver was told; with its outbox rows, in one commit."""
        log_rows.save(self._conn, records)

    def notification_log(self, *, since_ms: int) -> list[LogRecord]:
        return log_rows.load(self._conn, since_ms=since_ms)

    def prune_notification_log(self, *, before_ms: int) -> int:
        return log_rows.prune(self._conn, before_ms=before_ms)
