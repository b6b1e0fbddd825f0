"""Running an incident's actions, at the edge: each was persisted as requested before it
runs, so a restart runs a requested one again (actions are safe to repeat: a second rollback
request of a rolling-back rollout changes nothing).

- rollback: the active rollout of the incident's `service` is asked to roll back through
  `rollout.commands.request`, the very path of `safeship rollback` and the API, audited with
  the incident as actor; the controller running the rollout applies it.
- pause: the same, `pause`, for the service's active rollout or every active rollout.
- scale: the `Scaler` (the control plane's controller, given by wiring) runs `replicas`
  replicas of the service's stable version on the agent, whose desired state on disk keeps
  the count across restarts; refused while a rollout of the service is under way (run it
  again after the rollout). Audited as `scale service` with the incident as actor.
- command: argv (no shell) with {incident}, {definition}, {service} filled in, a timeout,
  stdin closed; its exit code and the tail of its output (secrets scrubbed) are the result.
- webhook: the incident POSTed as JSON (httpx, timeout); any 2xx answer is a success.
- escalation to a receiver (`escalate.receiver`): a notification of the incident's alerts
  submitted to the notification outbox (`notify`), group key `incident:<id>`, its sequence
  the escalation's time in ms: running it again submits the same one, which the outbox
  keeps once.

The action runs from the current config (definition name and action key), never from the
database, so a webhook URL with a token in it is not stored.
"""

from __future__ import annotations

import subprocess
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import httpx

from safeship.alerting.notification import Notification, NotifiedAlert, Status
from safeship.config.incidents import (
    Action,
    CommandAction,
    IncidentsSpec,
    PauseAction,
    RollbackAction,
    ScaleAction,
    WebhookAction,
)
from safeship.core.errors import SafeshipError
from safeship.core.incidents import ActionRun, Incident
from safeship.core.secrets import scrub
from safeship.incidents.lifecycle import ESCALATE
from safeship.rollout import commands
from safeship.rollout.state import RequestKind
from safeship.store.records import RolloutRecord
from safeship.store.repository import Store

OUTPUT_TAIL = 2000  # characters of a command's output kept on the timeline


class ActionFailed(SafeshipError):
    """An action that could not be done; the message says why (it goes on the timeline)."""


class Scaler(Protocol):
    def scale(self, service: str, replicas: int) -> str:
        """Run `replicas` replicas of `service`'s stable version; what changed, or a
        SafeshipError saying why not (a rollout under way, the agent away...)."""
        ...


@dataclass(frozen=True)
class ActionRunner:
    store: Store
    spec: IncidentsSpec
    notify: Callable[[Sequence[Notification]], None] | None = None  # the outbox's submit
    scaler: Scaler | None = None  # the controller of safeship.yaml's services

    def run(self, run: ActionRun, incident: Incident) -> str:
        """Do the action; what happened, or ActionFailed."""
        definition = self.spec.named(run.definition)
        escalate = definition.escalate if definition is not None else None
        if run.key == ESCALATE and escalate is not None and escalate.receiver is not None:
            return self._notify(incident, escalate.receiver)
        action = self.configured(run)
        if isinstance(action, RollbackAction):
            return self._rollback(incident, action)
        if isinstance(action, PauseAction):
            return self._pause(incident, action)
        if isinstance(action, ScaleAction):
            return self._scale(incident, action)
        if isinstance(action, CommandAction):
            return _command(incident, action)
        return _webhook(incident, action)

    def configured(self, run: ActionRun) -> Action:
        definition = self.spec.named(run.definition)
        if definition is None:
            raise ActionFailed(f"definition {run.definition!r} is no longer configured")
        if run.key == ESCALATE:
            escalate = definition.escalate
            if escalate is None or escalate.url is None:
                raise ActionFailed(f"{run.definition} no longer escalates to a url")
            return WebhookAction(type="webhook", url=escalate.url, timeout=escalate.timeout)
        index, _, kind = run.key.partition(":")
        actions = definition.actions
        if not index.isdigit() or int(index) >= len(actions) or actions[int(index)].type != kind:
            raise ActionFailed(f"action {run.key} of {run.definition} is no longer configured")
        return actions[int(index)]

    def _notify(self, incident: Incident, receiver: str) -> str:
        if self.notify is None:
            raise ActionFailed("escalate.receiver needs alertmanager_config in safeship.yaml")
        self.notify([escalation(incident, receiver, now=self.store.clock.now())])
        return f"escalated to receiver {receiver} (queued in the notification outbox)"

    def _rollback(self, incident: Incident, action: RollbackAction) -> str:
        rollout = self._active(incident)
        options = {"mode": action.mode}
        self._request(incident, rollout, "rollback", options)
        return f"rollback ({action.mode}) requested for rollout {rollout.id}"

    def _pause(self, incident: Incident, action: PauseAction) -> str:
        if action.scope == "service":
            targets = [self._active(incident)]
        else:
            targets = [r for r in self.store.list_rollouts(limit=500) if not r.finished]
        for rollout in targets:
            self._request(incident, rollout, "pause", {})
        paused = ", ".join(r.id for r in targets) or "none active"
        return f"pause requested for rollouts: {paused}"

    def _scale(self, incident: Incident, action: ScaleAction) -> str:
        if self.scaler is None:
            raise ActionFailed("scale needs the services of safeship.yaml (safeship serve)")
        if incident.service is None:
            raise ActionFailed("the incident's alerts carry no `service` label")
        try:
            result = self.scaler.scale(incident.service, action.replicas)
        except SafeshipError as exc:
            raise ActionFailed(f"scale of {incident.service} refused: {exc}") from exc
        self.store.audit(
            actor=incident.actor,
            action="scale service",
            reason=f"incident {incident.id} ({incident.title})",
            service=incident.service,
            details={"replicas": action.replicas},
        )
        return result

    def _active(self, incident: Incident) -> RolloutRecord:
        if incident.service is None:
            raise ActionFailed("the incident's alerts carry no `service` label")
        rollout = self.store.active_rollout(incident.service)
        if rollout is None:
            raise ActionFailed(f"no active rollout of {incident.service}")
        return rollout

    def _request(
        self,
        incident: Incident,
        rollout: RolloutRecord,
        kind: RequestKind,
        options: dict[str, Any],
    ) -> None:
        try:
            commands.request(
                self.store,
                rollout_id=rollout.id,
                kind=kind,
                actor=incident.actor,
                reason=f"incident {incident.id} ({incident.title})",
                options=options or None,
            )
        except SafeshipError as exc:  # finished meanwhile: say so, do not crash the loop
            raise ActionFailed(f"{kind} of {rollout.id} refused: {exc}") from exc


def _command(incident: Incident, action: CommandAction) -> str:
    values = {"incident": incident.id, "definition": incident.definition}
    values["service"] = incident.service or ""
    argv = [_fill(arg, values) for arg in action.command]
    try:
        done = subprocess.run(
            argv,
            capture_output=True,
            text=True,
            errors="replace",
            stdin=subprocess.DEVNULL,
            timeout=action.timeout,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        raise ActionFailed(f"{argv[0]} timed out after {action.timeout:g}s") from exc
    except OSError as exc:
        raise ActionFailed(f"cannot run {argv[0]}: {exc.strerror or exc}") from exc
    output = scrub((done.stdout + done.stderr)[-OUTPUT_TAIL:].strip())
    if done.returncode != 0:
        raise ActionFailed(f"{argv[0]} exited {done.returncode}: {output}")
    return f"{argv[0]} exited 0" + (f": {output}" if output else "")


def _fill(arg: str, values: dict[str, str]) -> str:
    for name, value in values.items():
        arg = arg.replace("{" + name + "}", value)
    return arg


def _webhook(incident: Incident, action: WebhookAction) -> str:
    try:
        answer = httpx.post(action.url, json=payload(incident), timeout=action.timeout)
    except (httpx.HTTPError, httpx.InvalidURL) as exc:
        # never the URL: a chat or pager hook's URL is its credential
        raise ActionFailed(f"webhook failed: {type(exc).__name__}: {exc}") from exc
    if not answer.is_success:
        raise ActionFailed(f"webhook answered {answer.status_code}")
    return f"webhook answered {answer.status_code}"


def payload(incident: Incident) -> dict[str, Any]:
    """The incident as a webhook receives it."""
    return {
        "id": incident.id,
        "definition": incident.definition,
        "title": incident.title,
        "severity": incident.severity,
        "owner": incident.owner,
        "status": incident.status.value,
        "service": incident.service,
        "openedAt": incident.opened_at,
        "group": dict(incident.group),
        "alerts": [a.as_dict() for a in incident.alerts.values()],
    }


def escalation(incident: Incident, receiver: str, *, now: float) -> Notification:
    """The incident's alerts as one notification to `receiver`."""
    at = incident.escalated_at if incident.escalated_at is not None else now
    summary = f"incident {incident.id} ({incident.severity}) escalated: {incident.title}"
    annotations = (("incident", incident.id), ("summary", summary))
    alerts = tuple(
        NotifiedAlert(
            labels=alert.labels,
            annotations=annotations,
            status=Status.FIRING if alert.firing else Status.RESOLVED,
            starts_at_ms=round(alert.since * 1000),
            ends_at_ms=None if alert.firing else round(at * 1000),
            generator_url="",
            fingerprint=fingerprint,
        )
        for fingerprint, alert in sorted(incident.alerts.items())
    )
    return Notification(
        receiver=receiver,
        group_key=f"incident:{incident.id}",
        group_labels=(("incident", incident.id),),
        alerts=alerts,
        sequence=round(at * 1000),
    )
