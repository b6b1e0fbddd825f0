"""Incident rows: incidents, their append-only timeline, and the actions they asked for.

Plain operations over one open `Connection`, reached as `Transaction.incidents` (writes,
composed with the audit entry in one transaction) or `Store.read_incidents()`. Messages and
details are scrubbed of secrets before they are stored (core/secrets.py).
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from safeship.core.incidents import (
    ActionRun,
    ActionState,
    EntryKind,
    Incident,
    IncidentAlert,
    Status,
    TimelineEntry,
)
from safeship.core.secrets import redact, scrub
from safeship.store.locks import advisory_key
from safeship.store.schema import incident_actions, incident_timeline, incidents
from safeship.store.upsert import upsert

INCIDENTS_LOCK_KEY = advisory_key("safeship.incidents.decide")


class IncidentRows:
    def __init__(self, connection: Connection) -> None:
        self._conn = connection

    def lock(self) -> None:
        """Serialise deciders (the manager's tick, people's commands) until commit. SQLite
        writers already hold the database lock (BEGIN IMMEDIATE)."""
        if self._conn.dialect.name == "postgresql":
            query = sa.text("SELECT pg_advisory_xact_lock(:key)")
            self._conn.execute(query, {"key": INCIDENTS_LOCK_KEY})

    def save(self, incident: Incident) -> None:
        upsert(self._conn, incidents, _incident_row(incident), key="id")

    def get(self, incident_id: str) -> Incident | None:
        row = self._conn.execute(sa.select(incidents).where(incidents.c.id == incident_id)).first()
        return _incident(row) if row is not None else None

    def unresolved(self) -> list[Incident]:
        query = sa.select(incidents).where(incidents.c.status != Status.RESOLVED.value)
        return [_incident(row) for row in self._conn.execute(query.order_by(incidents.c.opened_at))]

    def listing(self, *, status: Status | None = None, limit: int = 50) -> list[Incident]:
        """Newest first."""
        query = sa.select(incidents).order_by(incidents.c.opened_at.desc()).limit(limit)
        if status is not None:
            query = query.where(incidents.c.status == status.value)
        return [_incident(row) for row in self._conn.execute(query)]

    def add_entries(self, entries: list[TimelineEntry]) -> None:
        if entries:
            self._conn.execute(sa.insert(incident_timeline), [_entry_row(e) for e in entries])

    def timeline(self, incident_id: str) -> list[TimelineEntry]:
        query = (
            sa.select(incident_timeline)
            .where(incident_timeline.c.incident_id == incident_id)
            .order_by(incident_timeline.c.id)
        )
        return [_entry(row) for row in self._conn.execute(query)]

    def add_action(self, run: ActionRun) -> int:
        values = _action_row(run)
        del values["id"]
        key = self._conn.execute(sa.insert(incident_actions).values(**values)).inserted_primary_key
        assert key is not None
        return int(key[0])

    def runnable(self, *, stale_before: float) -> list[ActionRun]:
        """Actions to run: requested ones, and running ones claimed before `stale_before`
        (their manager died while running them). Oldest first."""
        query = sa.select(incident_actions).where(_runnable(stale_before))
        return [_action(row) for row in self._conn.execute(query.order_by(incident_actions.c.id))]

    def claim(self, action_id: int, *, now: float, stale_before: float) -> bool:
        """Mark the action running, unless another manager holds a fresh claim on it (or it
        is done): True when this caller may run it. One statement, so two managers on one
        database never both win."""
        query = sa.update(incident_actions).where(
            incident_actions.c.id == action_id, _runnable(stale_before)
        )
        done = self._conn.execute(query.values(state=ActionState.RUNNING.value, claimed_at=now))
        return done.rowcount == 1

    def finish_action(self, action_id: int, *, state: ActionState, result: str, now: float) -> None:
        query = sa.update(incident_actions).where(incident_actions.c.id == action_id)
        self._conn.execute(query.values(state=state.value, result=scrub(result), finished_at=now))

    def actions(
        self, *, incident_id: str | None = None, state: ActionState | None = None
    ) -> list[ActionRun]:
        """Oldest first; of one incident and/or in one state."""
        query = sa.select(incident_actions).order_by(incident_actions.c.id)
        if incident_id is not None:
            query = query.where(incident_actions.c.incident_id == incident_id)
        if state is not None:
            query = query.where(incident_actions.c.state == state.value)
        return [_action(row) for row in self._conn.execute(query)]

    def last_requested(self) -> dict[tuple[str, str, str], float]:
        """(definition, action key, service) → when that action was last requested."""
        c = incident_actions.c
        query = sa.select(c.definition, c.key, c.service, sa.func.max(c.requested_at)).group_by(
            c.definition, c.key, c.service
        )
        return {(d, k, s): float(at) for d, k, s, at in self._conn.execute(query)}


def _runnable(stale_before: float) -> sa.ColumnElement[bool]:
    c = incident_actions.c
    running = sa.and_(c.state == ActionState.RUNNING.value, c.claimed_at < stale_before)
    return sa.or_(c.state == ActionState.REQUESTED.value, running)


def _incident_row(incident: Incident) -> dict[str, Any]:
    return {
        "id": incident.id,
        "definition": incident.definition,
        "title": incident.title,
        "severity": incident.severity,
        "owner": incident.owner,
        "group_labels": [list(pair) for pair in incident.group],  # in groupBy order
        "service": incident.service,
        "status": incident.status.value,
        "opened_at": incident.opened_at,
        "acknowledged_at": incident.acknowledged_at,
        "acknowledged_by": incident.acknowledged_by,
        "escalated_at": incident.escalated_at,
        "resolved_at": incident.resolved_at,
        "quiet_since": incident.quiet_since,
        "alerts": {fp: a.as_dict() for fp, a in incident.alerts.items()},
    }


def _incident(row: sa.Row[Any]) -> Incident:
    return Incident(
        id=row.id,
        definition=row.definition,
        title=row.title,
        severity=row.severity,
        owner=row.owner,
        group=tuple((str(k), str(v)) for k, v in row.group_labels),
        service=row.service,
        status=Status(row.status),
        opened_at=row.opened_at,
        acknowledged_at=row.acknowledged_at,
        acknowledged_by=row.acknowledged_by,
        escalated_at=row.escalated_at,
        resolved_at=row.resolved_at,
        quiet_since=row.quiet_since,
        alerts={fp: IncidentAlert.from_dict(a) for fp, a in row.alerts.items()},
    )


def _entry_row(entry: TimelineEntry) -> dict[str, Any]:
    return {
        "incident_id": entry.incident_id,
        "at": entry.at,
        "kind": entry.kind.value,
        "actor": scrub(entry.actor),
        "message": scrub(entry.message),
        "details": redact(dict(entry.details)),
    }


def _entry(row: sa.Row[Any]) -> TimelineEntry:
    return TimelineEntry(
        incident_id=row.incident_id,
        at=row.at,
        kind=EntryKind(row.kind),
        actor=row.actor,
        message=row.message,
        details=row.details,
    )


def _action_row(run: ActionRun) -> dict[str, Any]:
    return {
        "id": run.id,
        "incident_id": run.incident_id,
        "definition": run.definition,
        "key": run.key,
        "service": run.service,
        "kind": run.kind,
        "requested_at": run.requested_at,
        "state": run.state.value,
        "result": scrub(run.result),
        "claimed_at": run.claimed_at,
        "finished_at": run.finished_at,
    }


def _action(row: sa.Row[Any]) -> ActionRun:
    values = row._asdict()
    values["state"] = ActionState(values["state"])
    return ActionRun(**values)
