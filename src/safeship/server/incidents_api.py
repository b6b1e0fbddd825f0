"""/api/v1/incidents and the Alertmanager webhook: incidents read from the store, people's
commands and external alerts handed to the incident manager.

Where it sits: "incidents ─▶ API ─▶ CLI" (DESIGN §2). It decides nothing: reads come from
the store, an acknowledgement, escalation, resolution or note goes to
`IncidentManager.command` with the pure transition of incidents/lifecycle.py, and the alerts
of an external Alertmanager's webhook (payload version 4) to `IncidentManager.ingest`.
Reading needs a viewer token, acting an operator's; the actor is the token's name.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, ConfigDict, Field

from safeship.core.errors import NotFound
from safeship.core.incidents import ActionRun, Incident, ObservedAlert, Status, TimelineEntry
from safeship.incidents import lifecycle
from safeship.incidents.manager import ALERTMANAGER, IncidentManager
from safeship.server.auth import Authenticator, Principal
from safeship.server.models import ErrorBody
from safeship.store.repository import Store
from safeship.store.tokens import Role

PREFIX = "/api/v1"
# Every route: a parameter that does not validate, and the refusals of authentication.
REFUSALS: dict[int | str, dict[str, Any]] = {
    code: {"model": ErrorBody} for code in (401, 403, 422, 429)
}
NOT_FOUND: dict[int | str, dict[str, Any]] = {404: {"model": ErrorBody}}
CONFLICT: dict[int | str, dict[str, Any]] = {code: {"model": ErrorBody} for code in (400, 404, 409)}


class IncidentView(BaseModel):
    id: str
    definition: str
    title: str
    severity: str
    owner: str
    service: str | None
    status: Status
    group: dict[str, str]
    opened_at: float
    acknowledged_at: float | None
    acknowledged_by: str | None
    escalated_at: float | None
    resolved_at: float | None
    quiet_since: float | None
    firing: int = Field(description="Alerts of the incident firing now.")
    alerts: list[dict[str, Any]]

    @classmethod
    def of(cls, incident: Incident) -> IncidentView:
        return cls(
            **{k: getattr(incident, k) for k in cls.model_fields if k not in ("group", "alerts")},
            group=dict(incident.group),
            alerts=[a.as_dict() for a in incident.alerts.values()],
        )


class EntryView(BaseModel):
    at: float
    kind: str
    actor: str
    message: str
    details: dict[str, Any]

    @classmethod
    def of(cls, entry: TimelineEntry) -> EntryView:
        return cls(
            at=entry.at,
            kind=entry.kind.value,
            actor=entry.actor,
            message=entry.message,
            details=dict(entry.details),
        )


class ActionView(BaseModel):
    id: int
    key: str
    kind: str
    service: str
    state: str
    result: str
    requested_at: float
    finished_at: float | None

    @classmethod
    def of(cls, run: ActionRun) -> ActionView:
        return cls(**{k: getattr(run, k) for k in cls.model_fields})


class IncidentDetail(IncidentView):
    timeline: list[EntryView]
    actions: list[ActionView]


class NoteBody(BaseModel):
    message: Annotated[str, Field(max_length=4000)] = ""


class WebhookAlert(BaseModel):
    """One alert of Alertmanager's webhook payload (the fields incidents use)."""

    model_config = ConfigDict(extra="allow")
    status: Literal["firing", "resolved"]
    labels: dict[str, str]
    annotations: dict[str, str] = Field(default_factory=dict)


class WebhookPayload(BaseModel):
    """Alertmanager's webhook body, version 4."""

    model_config = ConfigDict(extra="allow")
    version: Literal["4"]  # another version is refused (422) before anything changes
    status: Literal["firing", "resolved"]
    receiver: str = ""
    alerts: Annotated[list[WebhookAlert], Field(max_length=10_000)]


class Ingested(BaseModel):
    alerts: int
    incidents: list[str] = Field(description="Incidents opened or changed by these alerts.")


def incidents_api(manager: IncidentManager, store: Store, auth: Authenticator) -> APIRouter:
    router = APIRouter(prefix=PREFIX, tags=["incidents"], responses=REFUSALS)
    viewer = Depends(auth.require(Role.viewer))
    operator = Depends(auth.require(Role.operator))

    @router.get("/incidents")
    def list_incidents(
        status: Status | None = None,
        limit: Annotated[int, Query(ge=1, le=500)] = 50,
        _: Principal = viewer,
    ) -> list[IncidentView]:
        """Incidents, newest first; `status` keeps open, acknowledged or resolved ones."""
        with store.read_incidents() as rows:
            return [IncidentView.of(i) for i in rows.listing(status=status, limit=limit)]

    @router.get("/incidents/{incident_id}", responses=NOT_FOUND)
    def get_incident(incident_id: str, _: Principal = viewer) -> IncidentDetail:
        """One incident with its timeline and the actions it asked for."""
        with store.read_incidents() as rows:
            incident = rows.get(incident_id)
            if incident is None:
                raise NotFound(f"no incident {incident_id}; GET {PREFIX}/incidents lists them")
            timeline = [EntryView.of(e) for e in rows.timeline(incident_id)]
            actions = [ActionView.of(a) for a in rows.actions(incident_id=incident_id)]
        view = IncidentView.of(incident).model_dump()
        return IncidentDetail(**view, timeline=timeline, actions=actions)

    @router.post("/incidents/{incident_id}/ack", responses=CONFLICT)
    def ack(
        incident_id: str, body: NoteBody | None = None, caller: Principal = operator
    ) -> IncidentView:
        """Acknowledge: someone owns it now, so it does not escalate on its own."""
        message = (body or NoteBody()).message
        return IncidentView.of(
            manager.command(
                incident_id,
                lambda i, now: lifecycle.acknowledge(
                    i, actor=caller.name, now=now, message=message
                ),
            )
        )

    @router.post("/incidents/{incident_id}/escalate", responses=CONFLICT)
    def escalate(
        incident_id: str, body: NoteBody | None = None, caller: Principal = operator
    ) -> IncidentView:
        """Escalate now (to the definition's escalation url, when it has one)."""
        message = (body or NoteBody()).message

        def change(incident: Incident, now: float) -> lifecycle.Decision:
            definition = manager.spec.named(incident.definition)
            return lifecycle.escalate(
                incident, definition, actor=caller.name, now=now, message=message
            )

        return IncidentView.of(manager.command(incident_id, change))

    @router.post("/incidents/{incident_id}/resolve", responses=CONFLICT)
    def resolve(
        incident_id: str, body: NoteBody | None = None, caller: Principal = operator
    ) -> IncidentView:
        """Resolve; a later firing alert opens a new incident."""
        message = (body or NoteBody()).message
        return IncidentView.of(
            manager.command(
                incident_id,
                lambda i, now: lifecycle.resolve(i, actor=caller.name, now=now, message=message),
            )
        )

    @router.post("/incidents/{incident_id}/notes", responses=CONFLICT)
    def note(incident_id: str, body: NoteBody, caller: Principal = operator) -> IncidentView:
        """Add a note to the timeline."""
        return IncidentView.of(
            manager.command(
                incident_id,
                lambda i, now: lifecycle.note(i, actor=caller.name, now=now, message=body.message),
            )
        )

    @router.post("/alertmanager/webhook", responses={400: {"model": ErrorBody}})
    def alertmanager_webhook(body: WebhookPayload, _: Principal = operator) -> Ingested:
        """Alerts from an external Alertmanager (webhook_config, payload version 4): firing
        ones open or join incidents, resolved ones resolve theirs."""
        alerts = [
            ObservedAlert.of(a.labels, firing=a.status == "firing", source=ALERTMANAGER)
            for a in body.alerts
        ]
        decision = manager.ingest(alerts)
        touched = list(dict.fromkeys(i.id for i in decision.incidents))
        return Ingested(alerts=len(alerts), incidents=touched)

    return router
