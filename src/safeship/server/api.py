"""/api/v1: rollouts, their manual gates, the audit log and tokens, over the state store.

Where it sits: the "store ─▶ API / SSE ─▶ dashboard, CLI" end of the data flow (DESIGN §2).
It decides nothing: reads come from the store, a gate goes through `rollout.commands.request`
(the very function the CLI calls on the store directly), and the controller running the
rollout applies it. Every endpoint names the role it needs (server/auth.py); the actor of
what is audited is the caller's token name. Errors come from the one hierarchy
(core/errors.py) and answer with its status; each route documents the ones it can raise.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated, Any, Protocol

from fastapi import APIRouter, Depends, FastAPI, Query, status

from safeship.config.models import RolloutSpec
from safeship.core.clock import Clock
from safeship.core.errors import Conflict, NotFound
from safeship.incidents.manager import IncidentManager
from safeship.metrics.remote_in import RemoteWriteReceiver
from safeship.rollout import commands
from safeship.rollout.state import RequestKind
from safeship.server.api_errors import add_error_handlers, refuse_unknown_query
from safeship.server.auth import Authenticator, FailureLimiter, Principal
from safeship.server.events import events_api
from safeship.server.incidents_api import incidents_api
from safeship.server.models import (
    ActionAccepted,
    ActionBody,
    AuditEntryView,
    AuditVerificationView,
    DeployBody,
    ErrorBody,
    PromoteBody,
    RollbackBody,
    RolloutDetail,
    RolloutSummary,
    ServiceSummary,
    TokenCreate,
    TokenCreated,
    TokenView,
)
from safeship.server.notifications_api import notifications_api
from safeship.server.remote_write_api import remote_write_api
from safeship.server.silences_api import silences_api
from safeship.store.records import RolloutRecord
from safeship.store.repository import Store
from safeship.store.tokens import Role

PREFIX = "/api/v1"


def errors(*codes: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI `responses` for the error statuses a route can answer with."""
    return {code: {"model": ErrorBody} for code in codes}


# Every route: a parameter that does not validate, and the refusals of authentication.
AUTH_ERRORS = errors(401, 403, 422, 429)


class Control(Protocol):
    """The control plane's reconcilers (wiring/control.py): they start and run rollouts."""

    @property
    def services(self) -> Sequence[RolloutSpec]: ...

    def deploy(self, service: str, version: str, *, actor: str) -> str: ...

    def retry(self, rollout_id: str, *, actor: str) -> str: ...


def mount_api(
    app: FastAPI,
    *,
    store: Store,
    clock: Clock,
    poll_s: float = 0.5,
    incidents: IncidentManager | None = None,
    remote_write: RemoteWriteReceiver | None = None,
    control: Control | None = None,
) -> None:
    """Add /api/v1 to `app`, authenticated against the tokens in `store`; with
    `remote_write`, the remote-write receiver at /api/v1/write too. `control` runs rollouts
    (deploy, retry); without it they run where their fleet is (`safeship run`)."""
    auth = Authenticator(store, FailureLimiter(clock=clock))
    add_error_handlers(app)
    routers = [
        rollouts_api(store, auth, control),
        services_api(store, auth, control),
        audit_api(store, auth),
        tokens_api(store, auth),
        events_api(store, auth, poll_s=poll_s),
        silences_api(store, auth),
        notifications_api(store, auth),
    ]
    if incidents is not None:
        routers.append(incidents_api(incidents, store, auth))
    if remote_write is not None:
        routers.append(remote_write_api(remote_write, auth))
    for router in routers:
        app.include_router(router, dependencies=[Depends(refuse_unknown_query)])


def _control(control: Control | None) -> Control:
    if control is None:
        raise Conflict(
            "this control plane runs no rollouts: declare `services:` in safeship.yaml, or"
            " use `safeship run` where the fleet runs"
        )
    return control


def services_api(store: Store, auth: Authenticator, control: Control | None) -> APIRouter:
    router = APIRouter(prefix=PREFIX, tags=["services"], responses=AUTH_ERRORS)
    viewer = Depends(auth.require(Role.viewer))

    @router.get("/services")
    def list_services(_: Principal = viewer) -> list[ServiceSummary]:
        """The services of safeship.yaml: strategy, stable version, unfinished rollout."""
        specs = control.services if control is not None else ()
        return [_service(store, spec) for spec in specs]

    return router


def _service(store: Store, spec: RolloutSpec) -> ServiceSummary:
    name = spec.service.name
    active = store.active_rollout(name)
    return ServiceSummary(
        name=name,
        strategy=spec.strategy.name,
        replicas=spec.fleet.replicas,
        stable_version=store.stable_version(name) or spec.service.stable,
        active_rollout=active.id if active else None,
    )


def rollouts_api(store: Store, auth: Authenticator, control: Control | None) -> APIRouter:
    router = APIRouter(prefix=PREFIX, tags=["rollouts"], responses=AUTH_ERRORS)
    viewer = Depends(auth.require(Role.viewer))
    operator = Depends(auth.require(Role.operator))
    accepted: dict[str, Any] = {"status_code": status.HTTP_202_ACCEPTED}
    gate_errors = errors(400, 404, 409)

    @router.get("/rollouts")
    def list_rollouts(
        service: str | None = None,
        limit: Annotated[int, Query(ge=1, le=500)] = 50,
        _: Principal = viewer,
    ) -> list[RolloutSummary]:
        """Rollouts, newest first; `service` keeps one service's."""
        return [RolloutSummary.of(r) for r in store.list_rollouts(service=service, limit=limit)]

    @router.post("/rollouts", **accepted, responses=errors(400, 404, 409, 503))
    def deploy(body: DeployBody, caller: Principal = operator) -> RolloutSummary:
        """Start a rollout of a service of safeship.yaml to `version` (`safeship deploy`);
        the control plane runs it. The unfinished rollout to the same version is answered
        as is; one to another version is a conflict."""
        rollout_id = _control(control).deploy(body.service, body.version, actor=caller.name)
        return RolloutSummary.of(_found(store, rollout_id))

    @router.get("/rollouts/{rollout_id}", responses=errors(404))
    def get_rollout(rollout_id: str, _: Principal = viewer) -> RolloutDetail:
        """One rollout: phase, step, weights, last verdict, message, status and spec."""
        record = store.get_rollout(rollout_id)
        if record is None:
            raise NotFound(f"no rollout {rollout_id}; GET {PREFIX}/rollouts lists them")
        return RolloutDetail.of(record)

    def gate(
        kind: RequestKind, rollout_id: str, caller: Principal, reason: str, **options: Any
    ) -> ActionAccepted:
        request_id = commands.request(
            store,
            rollout_id=rollout_id,
            kind=kind,
            actor=caller.name,
            reason=reason,
            options=options or None,
        )
        return ActionAccepted(
            rollout=rollout_id, action=kind, request_id=request_id, actor=caller.name
        )

    @router.post("/rollouts/{rollout_id}/pause", **accepted, responses=gate_errors)
    def pause(
        rollout_id: str, body: ActionBody | None = None, caller: Principal = operator
    ) -> ActionAccepted:
        """Hold the rollout where it is (traffic and targets stay as they are)."""
        return gate("pause", rollout_id, caller, (body or ActionBody()).reason)

    @router.post("/rollouts/{rollout_id}/resume", **accepted, responses=gate_errors)
    def resume(
        rollout_id: str, body: ActionBody | None = None, caller: Principal = operator
    ) -> ActionAccepted:
        """Continue a paused rollout (past an open `pause: {}` step too)."""
        return gate("resume", rollout_id, caller, (body or ActionBody()).reason)

    @router.post("/rollouts/{rollout_id}/promote", **accepted, responses=gate_errors)
    def promote(
        rollout_id: str, body: PromoteBody | None = None, caller: Principal = operator
    ) -> ActionAccepted:
        """Move past the current step, or with `full` straight to the new version everywhere."""
        body = body or PromoteBody()
        return gate("promote", rollout_id, caller, body.reason, full=body.full)

    @router.post("/rollouts/{rollout_id}/abort", **accepted, responses=gate_errors)
    def abort(
        rollout_id: str, body: ActionBody | None = None, caller: Principal = operator
    ) -> ActionAccepted:
        """Stop the rollout and roll it back at once; it ends as aborted."""
        return gate("abort", rollout_id, caller, (body or ActionBody()).reason)

    @router.post("/rollouts/{rollout_id}/rollback", **accepted, responses=gate_errors)
    def rollback(
        rollout_id: str, body: RollbackBody | None = None, caller: Principal = operator
    ) -> ActionAccepted:
        """Roll back: fast (everything at once) or gradual (in waves, stopping if cleared)."""
        body = body or RollbackBody()
        return gate("rollback", rollout_id, caller, body.reason, mode=body.strategy)

    @router.post("/rollouts/{rollout_id}/retry", **accepted, responses=gate_errors)
    def retry(
        rollout_id: str, body: ActionBody | None = None, caller: Principal = operator
    ) -> RolloutSummary:
        """Run a rolled-back or aborted rollout again: the new rollout, which the control
        plane runs (409 when it runs no rollouts: then `safeship retry` where the fleet is)."""
        commands.retryable(store.get_rollout(rollout_id), rollout_id)
        new_id = _control(control).retry(rollout_id, actor=caller.name)
        return RolloutSummary.of(_found(store, new_id))

    return router


def _found(store: Store, rollout_id: str) -> RolloutRecord:
    record = store.get_rollout(rollout_id)
    if record is None:
        raise NotFound(f"no rollout {rollout_id}; GET {PREFIX}/rollouts lists them")
    return record


def audit_api(store: Store, auth: Authenticator) -> APIRouter:
    router = APIRouter(prefix=PREFIX, tags=["audit"], responses=AUTH_ERRORS)
    viewer = Depends(auth.require(Role.viewer))

    @router.get("/audit")
    def audit(
        rollout: str | None = None,
        limit: Annotated[int, Query(ge=1, le=1000)] = 100,
        _: Principal = viewer,
    ) -> list[AuditEntryView]:
        """The newest `limit` audit entries (of one rollout with `rollout`), oldest first."""
        entries = store.audit_entries(rollout_id=rollout, limit=limit)
        return [AuditEntryView.of(e) for e in entries]

    @router.get("/audit/verify")
    def verify(_: Principal = viewer) -> AuditVerificationView:
        """Recompute the hash chain and check its signed checkpoints."""
        return AuditVerificationView.of(store.verify_audit())

    return router


def tokens_api(store: Store, auth: Authenticator) -> APIRouter:
    router = APIRouter(prefix=PREFIX, tags=["tokens"], responses=AUTH_ERRORS)
    admin = Depends(auth.require(Role.admin))

    @router.get("/tokens")
    def list_tokens(_: Principal = admin) -> list[TokenView]:
        """Every token's name, role, creation and last use; never a token."""
        return [TokenView.of(t) for t in store.tokens()]

    @router.post("/tokens", status_code=status.HTTP_201_CREATED, responses=errors(400, 409))
    def create_token(body: TokenCreate, caller: Principal = admin) -> TokenCreated:
        """A new token, shown in this answer only; audited with the caller as actor."""
        record, token = store.create_token(name=body.name, role=body.role, actor=caller.name)
        return TokenCreated(**TokenView.of(record).model_dump(), token=token)

    @router.delete("/tokens/{name}", responses=errors(404))
    def revoke_token(name: str, caller: Principal = admin) -> TokenView:
        """Revoke a token: it stops working at once; audited."""
        return TokenView.of(store.revoke_token(name, actor=caller.name))

    return router
