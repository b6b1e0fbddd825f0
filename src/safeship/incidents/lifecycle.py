"""The incident lifecycle, pure: (definitions, open incidents, observed alerts, cooldowns,
now) → (changed incidents, timeline entries, actions to run).

Where it sits: "alerts ─▶ incidents ─▶ actions" (DESIGN §2). The manager (incidents/manager.py)
observes the alerts, calls `decide`, persists what it returns in one transaction and only
then runs the actions. People's commands (acknowledge, escalate, resolve, note) are pure
transitions here too. Rules:

- A firing alert that matches a definition joins the unresolved incident of that definition
  with the same `groupBy` label values, or opens one; opening requests every action.
- An action is keyed by (definition, action, service): inside its cooldown it is skipped
  (and the timeline says so); cooldowns come from the persisted actions, so a restart does
  not repeat one.
- An alert resolves when its source says so, or when it is missing from a source whose
  alerts are all reported (`Observed.complete`, the rule manager's).
- Once every alert is resolved the timeline says "alerts resolved"; with `autoResolve` the
  incident resolves after `quietPeriod` without a new firing alert.
- Not acknowledged `escalate.after` after it opened: escalated (and POSTed to its url).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from safeship.config.incidents import IncidentDefinition, IncidentsSpec
from safeship.core.durations import format_duration
from safeship.core.errors import Conflict
from safeship.core.incidents import (
    EntryKind,
    Incident,
    IncidentAlert,
    ObservedAlert,
    Status,
    TimelineEntry,
)
from safeship.core.labels import Labels

CooldownKey = tuple[str, str, str]  # (definition, action key, service)
ESCALATE = "escalate"


@dataclass(frozen=True)
class Observed:
    """Alerts seen now; absent alerts of a `complete` source count as resolved."""

    alerts: tuple[ObservedAlert, ...]
    complete: frozenset[str] = frozenset()


@dataclass(frozen=True)
class ActionRequest:
    incident_id: str
    definition: str
    key: str
    service: str
    kind: str  # the action's type; it runs from the config, never from what is stored

    @property
    def cooldown_key(self) -> CooldownKey:
        return (self.definition, self.key, self.service)


@dataclass(frozen=True)
class Decision:
    incidents: tuple[Incident, ...] = ()  # new or changed
    entries: tuple[TimelineEntry, ...] = ()
    actions: tuple[ActionRequest, ...] = ()


@dataclass
class _Tick:
    """What one decision accumulates, incident by incident."""

    now: float
    cooldowns: dict[CooldownKey, float]
    incidents: dict[str, Incident] = field(default_factory=dict)
    changed: set[str] = field(default_factory=set)
    entries: list[TimelineEntry] = field(default_factory=list)
    actions: list[ActionRequest] = field(default_factory=list)

    def put(self, incident: Incident) -> None:
        self.incidents[incident.id] = incident
        self.changed.add(incident.id)

    def note(self, incident: Incident, kind: EntryKind, message: str, **details: Any) -> None:
        entry = TimelineEntry(
            incident_id=incident.id,
            at=self.now,
            kind=kind,
            actor=incident.actor,
            message=message,
            details=details,
        )
        self.entries.append(entry)

    def decision(self) -> Decision:
        changed = tuple(self.incidents[i] for i in self.incidents if i in self.changed)
        return Decision(changed, tuple(self.entries), tuple(self.actions))


def decide(
    spec: IncidentsSpec,
    incidents: Iterable[Incident],
    observed: Observed,
    *,
    cooldowns: Mapping[CooldownKey, float],
    now: float,
) -> Decision:
    """One look at the alerts: what changes, what the timeline gains, which actions run."""
    tick = _Tick(now, dict(cooldowns))
    tick.incidents = {i.id: i for i in incidents if i.status is not Status.RESOLVED}
    _resolve_alerts(tick, observed)
    for alert in observed.alerts:
        if alert.firing:
            for definition in spec.definitions:
                if definition.matches(alert.label_map):
                    _fire(tick, definition, alert)
    for incident in list(tick.incidents.values()):
        if (named := spec.named(incident.definition)) is not None:
            _settle(tick, named, incident)
    return tick.decision()


def _resolve_alerts(tick: _Tick, observed: Observed) -> None:
    firing = {a.fingerprint for a in observed.alerts if a.firing}
    resolved = {a.fingerprint for a in observed.alerts if not a.firing}
    for incident in list(tick.incidents.values()):
        gone = [
            fp
            for fp, alert in incident.alerts.items()
            if alert.firing
            and fp not in firing
            and (fp in resolved or alert.source in observed.complete)
        ]
        for fp in gone:
            alert = incident.alerts[fp]
            incident = _with_alert(incident, fp, replace(alert, firing=False, since=tick.now))
            tick.note(incident, EntryKind.ALERT_RESOLVED, _alert_name(alert.labels), fingerprint=fp)
        if gone:
            tick.put(incident)


def _fire(tick: _Tick, definition: IncidentDefinition, alert: ObservedAlert) -> None:
    group = tuple((name, alert.label_map.get(name, "")) for name in definition.group_by)
    incident = next(
        (
            i
            for i in tick.incidents.values()
            if i.definition == definition.name and i.group == group
        ),
        None,
    )
    if incident is None:
        incident = _open(tick, definition, alert, group)
    known = incident.alerts.get(alert.fingerprint)
    if known is not None and known.firing:
        return
    fired = IncidentAlert(alert.labels, True, tick.now, alert.source)
    incident = replace(_with_alert(incident, alert.fingerprint, fired), quiet_since=None)
    tick.put(incident)
    details = {"fingerprint": alert.fingerprint, "labels": alert.label_map}
    tick.note(incident, EntryKind.ALERT_FIRED, _alert_name(alert.labels), **details)


def _open(
    tick: _Tick, definition: IncidentDefinition, alert: ObservedAlert, group: Labels
) -> Incident:
    labels = alert.label_map
    seed = f"{definition.name}|{group}|{tick.now!r}"
    incident = Incident(
        id="inc-" + hashlib.sha256(seed.encode()).hexdigest()[:12],
        definition=definition.name,
        title=f"{definition.name}: " + ", ".join(f"{k}={v}" for k, v in group if v),
        severity=definition.severity,
        owner=definition.owner,
        group=group,
        service=labels.get("service") or None,
        status=Status.OPEN,
        opened_at=tick.now,
    )
    tick.put(incident)
    message = f"opened by {_alert_name(alert.labels)} ({alert.source})"
    tick.note(incident, EntryKind.OPENED, message, severity=definition.severity)
    for index, action in enumerate(definition.actions):
        _request(tick, incident, f"{index}:{action.type}", action.type, action.cooldown)
    return incident


def _request(tick: _Tick, incident: Incident, key: str, kind: str, cooldown: float) -> None:
    request = ActionRequest(incident.id, incident.definition, key, incident.service or "", kind)
    last = tick.cooldowns.get(request.cooldown_key)
    if last is not None and tick.now - last < cooldown:
        wait = format_duration(last + cooldown - tick.now)
        tick.note(incident, EntryKind.ACTION_SKIPPED, f"{key}: in cooldown for {wait}", key=key)
        return
    tick.cooldowns[request.cooldown_key] = tick.now
    tick.actions.append(request)
    tick.note(incident, EntryKind.ACTION_REQUESTED, key, key=key, type=kind)


def _settle(tick: _Tick, definition: IncidentDefinition, incident: Incident) -> None:
    """Quiet period, resolution on its own, and escalation of one unresolved incident."""
    quiet = bool(incident.alerts) and incident.firing == 0
    if quiet and incident.quiet_since is None:
        incident = replace(incident, quiet_since=tick.now)
        tick.put(incident)
        after = format_duration(definition.quiet_period) if definition.auto_resolve else None
        then = f"; resolves in {after} if none fires" if after else ""
        tick.note(incident, EntryKind.ALERTS_RESOLVED, f"every alert resolved{then}")
    since = incident.quiet_since
    if (
        definition.auto_resolve
        and since is not None
        and tick.now - since >= definition.quiet_period
    ):
        quiet_for = format_duration(tick.now - since)
        tick.put(_resolved(incident, tick.now))
        tick.note(incident, EntryKind.RESOLVED, f"resolved on its own: quiet for {quiet_for}")
        return
    escalate = definition.escalate
    due = escalate is not None and tick.now - incident.opened_at >= escalate.after
    if due and incident.status is Status.OPEN and incident.escalated_at is None:
        assert escalate is not None
        message = f"not acknowledged within {format_duration(escalate.after)}"
        _escalate(tick, definition, incident, actor=incident.actor, message=message)


def _escalate(
    tick: _Tick,
    definition: IncidentDefinition | None,
    incident: Incident,
    *,
    actor: str,
    message: str,
) -> None:
    incident = replace(incident, escalated_at=tick.now)
    tick.put(incident)
    tick.entries.append(
        TimelineEntry(
            incident_id=incident.id,
            at=tick.now,
            kind=EntryKind.ESCALATED,
            actor=actor,
            message=message,
        )
    )
    escalate = definition.escalate if definition else None
    if escalate is not None and escalate.url is not None:
        _request(tick, incident, ESCALATE, "webhook", cooldown=0.0)
    elif escalate is not None and escalate.receiver is not None:
        _request(tick, incident, ESCALATE, "receiver", cooldown=0.0)


def _resolved(incident: Incident, now: float) -> Incident:
    return replace(incident, status=Status.RESOLVED, resolved_at=now)


def _with_alert(incident: Incident, fp: str, alert: IncidentAlert) -> Incident:
    return replace(incident, alerts={**incident.alerts, fp: alert})


def _alert_name(labels: Labels) -> str:
    named = dict(labels)
    return (
        named.get("alertname", "alert")
        + "{"
        + ", ".join(f'{k}="{v}"' for k, v in labels if k != "alertname")
        + "}"
    )


# People's commands: each returns the decision to persist, or raises Conflict.


def acknowledge(incident: Incident, *, actor: str, now: float, message: str = "") -> Decision:
    _unresolved(incident, "acknowledged")
    if incident.status is Status.ACKNOWLEDGED:
        raise Conflict(
            f"incident {incident.id} is already acknowledged by {incident.acknowledged_by}"
        )
    changed = replace(
        incident, status=Status.ACKNOWLEDGED, acknowledged_at=now, acknowledged_by=actor
    )
    return _by_person(changed, EntryKind.ACKNOWLEDGED, actor=actor, now=now, message=message)


def escalate(
    incident: Incident,
    definition: IncidentDefinition | None,
    *,
    actor: str,
    now: float,
    message: str = "",
) -> Decision:
    _unresolved(incident, "escalated")
    tick = _Tick(now, {})
    _escalate(tick, definition, incident, actor=actor, message=message or f"escalated by {actor}")
    return tick.decision()


def resolve(incident: Incident, *, actor: str, now: float, message: str = "") -> Decision:
    _unresolved(incident, "resolved")
    changed = _resolved(incident, now)
    return _by_person(changed, EntryKind.RESOLVED, actor=actor, now=now, message=message)


def note(incident: Incident, *, actor: str, now: float, message: str) -> Decision:
    if not message.strip():
        raise Conflict("a note needs some text")
    return _by_person(incident, EntryKind.NOTE, actor=actor, now=now, message=message)


def _by_person(
    incident: Incident, kind: EntryKind, *, actor: str, now: float, message: str
) -> Decision:
    entry = TimelineEntry(
        incident_id=incident.id, at=now, kind=kind, actor=actor, message=message or kind.value
    )
    return Decision((incident,), (entry,))


def _unresolved(incident: Incident, verb: str) -> None:
    if incident.status is Status.RESOLVED:
        raise Conflict(f"incident {incident.id} is resolved; it cannot be {verb}")
