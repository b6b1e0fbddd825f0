"""Incident value types: an incident, its alerts, its timeline entries and the actions it
asked for. Pure data shared by the incident lifecycle (incidents/lifecycle.py, pure), the
store (store/incidents.py) and the API, so nothing pure reaches up for a dataclass.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from safeship.core.labels import Labels, make_labels


class Status(StrEnum):
    OPEN = "open"
    ACKNOWLEDGED = "acknowledged"
    RESOLVED = "resolved"


class EntryKind(StrEnum):
    """What a timeline entry records."""

    OPENED = "opened"
    ALERT_FIRED = "alert fired"
    ALERT_RESOLVED = "alert resolved"
    ALERTS_RESOLVED = "alerts resolved"  # every alert resolved: the quiet period starts
    ACTION_REQUESTED = "action requested"
    ACTION_SKIPPED = "action skipped"  # inside its cooldown
    ACTION_SUCCEEDED = "action succeeded"
    ACTION_FAILED = "action failed"
    NOTE = "note"
    ACKNOWLEDGED = "acknowledged"
    ESCALATED = "escalated"
    RESOLVED = "resolved"


class ActionState(StrEnum):
    REQUESTED = "requested"  # persisted, not yet done: run (again) after a restart
    RUNNING = "running"  # claimed by one manager; run again only once the claim is stale
    SUCCEEDED = "succeeded"
    FAILED = "failed"


def fingerprint(labels: Labels) -> str:
    """An alert's identity: a hash of its sorted labels (the same from rules and webhook)."""
    text = "\xff".join(f"{k}\xfe{v}" for k, v in labels)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


@dataclass(frozen=True)
class ObservedAlert:
    """An alert as a source reports it: from the rule manager, or an Alertmanager webhook."""

    labels: Labels
    firing: bool
    source: str  # "rules" or "alertmanager"
    annotations: Labels = ()

    @classmethod
    def of(cls, labels: Mapping[str, str], *, firing: bool, source: str) -> ObservedAlert:
        return cls(make_labels(labels), firing, source)

    @property
    def fingerprint(self) -> str:
        return fingerprint(self.labels)

    @property
    def label_map(self) -> dict[str, str]:
        return dict(self.labels)


@dataclass(frozen=True)
class IncidentAlert:
    """One alert of an incident: firing or resolved, since when, from which source."""

    labels: Labels
    firing: bool
    since: float
    source: str

    def as_dict(self) -> dict[str, Any]:
        return {
            "labels": dict(self.labels),
            "firing": self.firing,
            "since": self.since,
            "source": self.source,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> IncidentAlert:
        labels = make_labels(data["labels"])
        return cls(labels, bool(data["firing"]), float(data["since"]), str(data["source"]))


@dataclass(frozen=True, kw_only=True)
class Incident:
    id: str
    definition: str
    title: str
    severity: str
    owner: str
    group: Labels  # the values of the definition's group_by labels
    service: str | None
    status: Status
    opened_at: float
    acknowledged_at: float | None = None
    acknowledged_by: str | None = None
    escalated_at: float | None = None
    resolved_at: float | None = None
    quiet_since: float | None = None  # every alert resolved since then
    alerts: Mapping[str, IncidentAlert] = field(default_factory=dict)  # by fingerprint

    @property
    def actor(self) -> str:
        """Who acts when the incident acts on its own (the audit log's actor)."""
        return f"incident:{self.id}"

    @property
    def firing(self) -> int:
        return sum(1 for a in self.alerts.values() if a.firing)


@dataclass(frozen=True, kw_only=True)
class TimelineEntry:
    incident_id: str
    at: float
    kind: EntryKind
    actor: str
    message: str = ""
    details: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, kw_only=True)
class ActionRun:
    """An action an incident asked for, persisted before it runs."""

    id: int
    incident_id: str
    definition: str
    key: str  # "<index>:<type>" in the definition's actions, or "escalate"
    service: str  # "" when the incident has none
    kind: str  # rollback, pause, command, webhook: it runs from the config (no secrets here)
    requested_at: float
    state: ActionState = ActionState.REQUESTED
    result: str = ""
    claimed_at: float | None = None
    finished_at: float | None = None
