"""Where a command reads rollouts and sends gates: the state database, or a control plane.

`backend(db, server)` gives a `Backend` over the store (the embedded default, actor `$USER`)
or, when a server is given, over its /api/v1 (actor: the token's name, decided by the
server). Commands render the same records either way. An error of the hierarchy raised
inside the block is printed for a person and exits with its code.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any, Protocol

from rich.console import Console
from sqlalchemy.exc import SQLAlchemyError

from safeship.cli.output import refuse
from safeship.cli.remote import ApiClient, load_token
from safeship.core.errors import NotFound, SafeshipError, StoreError
from safeship.rollout import commands
from safeship.rollout.state import RequestKind
from safeship.server.models import (
    ActionAccepted,
    AuditEntryView,
    AuditVerificationView,
    NotificationView,
    RolloutDetail,
    RolloutSummary,
    TokenCreated,
    TokenView,
)
from safeship.store.outbox import OutboxRow, OutboxStatus
from safeship.store.records import AuditEntry, AuditVerification, RolloutRecord, Tampering
from safeship.store.repository import Store
from safeship.store.tokens import Role, TokenRecord


class Backend(Protocol):
    def rollouts(self, *, limit: int, service: str | None = None) -> list[RolloutRecord]: ...

    def rollout(self, rollout_id: str) -> RolloutRecord | None: ...

    def request(
        self, rollout_id: str, kind: RequestKind, *, reason: str, options: Mapping[str, Any]
    ) -> None: ...

    def audit_entries(self, *, rollout_id: str | None, limit: int) -> list[AuditEntry]: ...

    def verify_audit(self) -> AuditVerification: ...

    def create_token(self, *, name: str, role: Role) -> tuple[TokenRecord, str]: ...

    def tokens(self) -> list[TokenRecord]: ...

    def revoke_token(self, name: str) -> TokenRecord: ...

    def notifications(self, *, status: OutboxStatus | None, limit: int) -> list[OutboxRow]: ...

    def retry_notification(self, row_id: int) -> OutboxRow: ...


@contextmanager
def backend(db: str | None, server: str | None, *, console: Console) -> Iterator[Backend]:
    """The API at `server` if given, else the store at `db`; a refusal is printed on
    `console` and exits with its code."""
    try:
        if server:
            client = ApiClient(server, load_token())
            try:
                yield ApiBackend(client)
            finally:
                client.close()
        else:
            with Store.open(db) as store:
                yield StoreBackend(store, actor=os.environ.get("USER", "cli"))
    except SafeshipError as exc:
        refuse(console, exc)
    except SQLAlchemyError as exc:  # a database that opened but cannot be read
        refuse(console, StoreError(f"the state database failed: {exc}"))


class StoreBackend:
    """The state database directly: what `safeship run` and the control plane write."""

    def __init__(self, store: Store, *, actor: str) -> None:
        self.store, self.actor = store, actor

    def rollouts(self, *, limit: int, service: str | None = None) -> list[RolloutRecord]:
        return self.store.list_rollouts(service=service, limit=limit)

    def rollout(self, rollout_id: str) -> RolloutRecord | None:
        return self.store.get_rollout(rollout_id)

    def request(
        self, rollout_id: str, kind: RequestKind, *, reason: str, options: Mapping[str, Any]
    ) -> None:
        commands.request(
            self.store,
            rollout_id=rollout_id,
            kind=kind,
            actor=self.actor,
            reason=reason,
            options=options or None,
        )

    def audit_entries(self, *, rollout_id: str | None, limit: int) -> list[AuditEntry]:
        return self.store.audit_entries(rollout_id=rollout_id, limit=limit)

    def verify_audit(self) -> AuditVerification:
        return self.store.verify_audit()

    def create_token(self, *, name: str, role: Role) -> tuple[TokenRecord, str]:
        return self.store.create_token(name=name, role=role, actor=self.actor)

    def tokens(self) -> list[TokenRecord]:
        return self.store.tokens()

    def revoke_token(self, name: str) -> TokenRecord:
        return self.store.revoke_token(name, actor=self.actor)

    def notifications(self, *, status: OutboxStatus | None, limit: int) -> list[OutboxRow]:
        return self.store.notifications(status=status, limit=limit)

    def retry_notification(self, row_id: int) -> OutboxRow:
        return self.store.retry_notification(row_id, actor=self.actor)


class ApiBackend:
    """A control plane's /api/v1; answers parsed with the server's own models."""

    def __init__(self, client: ApiClient) -> None:
        self.client = client

    def rollouts(self, *, limit: int, service: str | None = None) -> list[RolloutRecord]:
        found = self.client.get("/rollouts", limit=limit, service=service)
        return [RolloutSummary.model_validate(r).record() for r in found]

    def rollout(self, rollout_id: str) -> RolloutRecord | None:
        try:
            detail = RolloutDetail.model_validate(self.client.get(f"/rollouts/{rollout_id}"))
        except NotFound:
            return None
        return detail.record(detail.spec)

    def request(
        self, rollout_id: str, kind: RequestKind, *, reason: str, options: Mapping[str, Any]
    ) -> None:
        body = {"reason": reason, **_body_options(options)}
        ActionAccepted.model_validate(self.client.post(f"/rollouts/{rollout_id}/{kind}", body))

    def audit_entries(self, *, rollout_id: str | None, limit: int) -> list[AuditEntry]:
        found = self.client.get("/audit", rollout=rollout_id, limit=limit)
        return [AuditEntryView.model_validate(e).entry() for e in found]

    def verify_audit(self) -> AuditVerification:
        view = AuditVerificationView.model_validate(self.client.get("/audit/verify"))
        values = view.model_dump()
        tampering = Tampering(view.tampering) if view.tampering else None
        return AuditVerification(**{**values, "tampering": tampering})

    def create_token(self, *, name: str, role: Role) -> tuple[TokenRecord, str]:
        made = TokenCreated.model_validate(
            self.client.post("/tokens", {"name": name, "role": role.value})
        )
        return _token_record(made), made.token

    def tokens(self) -> list[TokenRecord]:
        return [_token_record(TokenView.model_validate(t)) for t in self.client.get("/tokens")]

    def revoke_token(self, name: str) -> TokenRecord:
        return _token_record(TokenView.model_validate(self.client.delete(f"/tokens/{name}")))

    def notifications(self, *, status: OutboxStatus | None, limit: int) -> list[OutboxRow]:
        found = self.client.get("/notifications", status=status, limit=limit)
        return [NotificationView.model_validate(n).row() for n in found]

    def retry_notification(self, row_id: int) -> OutboxRow:
        answer = self.client.post(f"/notifications/{row_id}/retry", {})
        return NotificationView.model_validate(answer).row()


def _token_record(view: TokenView) -> TokenRecord:
    """The API never shows a token's id (part of the token): the record goes without it."""
    return TokenRecord(id="", **view.model_dump(include=set(TokenView.model_fields)))


def _body_options(options: Mapping[str, Any]) -> dict[str, Any]:
    """The stored request options as the API's body fields (rollback's `mode` is `strategy`)."""
    return {("strategy" if k == "mode" else k): v for k, v in options.items()}
