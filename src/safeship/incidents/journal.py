"""Writing a decision down: incidents, timeline, requested actions and their audit entries,
all in the caller's transaction, before any action runs (STYLE 3).

Every timeline entry is audited with its actor (`incident:<id>` when the incident acted on
its own, the token's name when a person did), except an alert firing or resolving: those
are the alerts' own history, kept on the timeline only.
"""

from __future__ import annotations

from safeship.core.incidents import ActionRun, EntryKind, Incident, TimelineEntry
from safeship.incidents.lifecycle import ActionRequest, Decision
from safeship.store.transaction import Transaction

NOT_AUDITED = (EntryKind.ALERT_FIRED, EntryKind.ALERT_RESOLVED)


def record(tx: Transaction, decision: Decision, *, now: float) -> list[int]:
    """Persist `decision`; the ids of the actions it requested, to run once committed."""
    rows = tx.incidents
    for incident in decision.incidents:
        rows.save(incident)
    rows.add_entries(list(decision.entries))
    services = {i.id: i.service for i in decision.incidents}
    for entry in decision.entries:
        audit(tx, entry, service=services.get(entry.incident_id))
    return [rows.add_action(_run(request, now)) for request in decision.actions]


def audit(tx: Transaction, entry: TimelineEntry, *, service: str | None) -> None:
    if entry.kind in NOT_AUDITED:
        return
    details = {"incident": entry.incident_id, **entry.details}
    tx.audit(
        actor=entry.actor,
        action=f"incident {entry.kind.value}",
        reason=entry.message,
        service=service,
        details=details,
    )


def finished(tx: Transaction, incident: Incident, run: ActionRun, entry: TimelineEntry) -> None:
    """An action's outcome: its row, its timeline entry and audit entry."""
    state = run.state
    tx.incidents.finish_action(run.id, state=state, result=run.result, now=entry.at)
    tx.incidents.add_entries([entry])
    audit(tx, entry, service=incident.service)


def _run(request: ActionRequest, now: float) -> ActionRun:
    return ActionRun(
        id=0,  # assigned by the database
        incident_id=request.incident_id,
        definition=request.definition,
        key=request.key,
        service=request.service,
        kind=request.kind,
        requested_at=now,
    )
