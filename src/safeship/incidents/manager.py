"""The incident manager: observes alerts, decides (incidents/lifecycle.py, pure), persists,
then acts.

Where it sits: "alerts ─▶ incidents ─▶ actions" (DESIGN §2), at the edge, one more periodic
loop of `safeship serve` beside the rule manager. Each tick takes the rule manager's firing
alerts (a complete snapshot: an alert missing from it has resolved), decides under the
incidents lock in one transaction with the audit entries, commits, and only then runs the
actions still marked requested (those of this tick, and any a crash interrupted). Each is
claimed (marked running) before it runs, so two `serve` processes on one PostgreSQL never
both run it; a claim older than `CLAIM_STALE_S` belongs to a manager that died, and the
action runs again. Alerts an
external Alertmanager POSTs (`ingest`) are decided the same way at once; their actions run
on the next tick. People's commands (ack, escalate, resolve, note) come through `command`.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from dataclasses import replace

from sqlalchemy.exc import SQLAlchemyError

from safeship.alerting.evaluator import Alert, State
from safeship.alerting.notification import Notification
from safeship.config.incidents import IncidentsSpec
from safeship.core.clock import Clock
from safeship.core.errors import NotFound
from safeship.core.incidents import (
    ActionRun,
    ActionState,
    EntryKind,
    Incident,
    ObservedAlert,
    TimelineEntry,
)
from safeship.incidents import journal, lifecycle
from safeship.incidents.actions import ActionFailed, ActionRunner, Scaler
from safeship.incidents.lifecycle import Decision, Observed
from safeship.store.repository import Store

log = logging.getLogger(__name__)
RULES = "rules"
ALERTMANAGER = "alertmanager"
# A claim older than this is a manager that died mid-action: longer than any action may
# take (a command's timeout is at most 600 s, a webhook's 60 s).
CLAIM_STALE_S = 900.0
# A person's command: (the incident, the clock's now) → the decision to persist.
Command = Callable[[Incident, float], Decision]


class IncidentManager:
    def __init__(
        self,
        spec: IncidentsSpec,
        *,
        store: Store,
        clock: Clock,
        alerts: Callable[[], Sequence[Alert]] | None = None,
        notify: Callable[[Sequence[Notification]], None] | None = None,
        scaler: Scaler | None = None,
    ) -> None:
        """`notify`: where escalations to a receiver go (the notification outbox);
        `scaler`: what runs `scale` actions (the controller of safeship.yaml's services)."""
        self.spec, self._store, self._clock, self._alerts = spec, store, clock, alerts
        self._runner = ActionRunner(store, spec, notify, scaler)

    def tick(self) -> Decision:
        """Decide over the rule manager's alerts and persist; `run_requested` acts."""
        return self._decide(self.observe())

    def observe(self) -> Observed:
        """The rule manager's firing alerts: a complete snapshot (on its thread)."""
        if self._alerts is None:
            return Observed(())
        firing = tuple(
            ObservedAlert(a.labels, True, RULES, a.annotations)
            for a in self._alerts()
            if a.state is State.FIRING
        )
        return Observed(firing, frozenset({RULES}))

    def ingest(self, alerts: Sequence[ObservedAlert]) -> Decision:
        """Alerts an external Alertmanager sent (firing or resolved); nothing else changes."""
        return self._decide(Observed(tuple(alerts)))

    def _decide(self, observed: Observed) -> Decision:
        now = self._clock.now()
        with self._store.transaction() as tx:
            rows = tx.incidents
            rows.lock()
            decision = lifecycle.decide(
                self.spec,
                rows.unresolved(),
                observed,
                cooldowns=rows.last_requested(),
                now=now,
            )
            journal.record(tx, decision, now=now)
        return decision

    def command(self, incident_id: str, change: Command) -> Incident:
        """Apply a person's command to one incident, audited; the incident as it is now."""
        with self._store.transaction() as tx:
            tx.incidents.lock()
            incident = tx.incidents.get(incident_id)
            if incident is None:
                raise NotFound(f"no incident {incident_id}; `safeship incidents list` shows them")
            decision = change(incident, self._clock.now())
            journal.record(tx, decision, now=self._clock.now())
        return decision.incidents[0] if decision.incidents else incident

    def run_requested(self) -> int:
        """Run every action requested (or left running by a manager that died), oldest
        first, each claimed first so that two managers on one database never both run it;
        how many this one ran."""
        with self._store.read_incidents() as rows:
            pending = rows.runnable(stale_before=self._stale_before())
        ran = 0
        for run in pending:
            with self._store.transaction() as tx:
                incident = tx.incidents.get(run.incident_id)
                now, stale = self._clock.now(), self._stale_before()
                mine = incident is not None and tx.incidents.claim(
                    run.id, now=now, stale_before=stale
                )
            if mine and incident is not None:
                self._run(run, incident)
                ran += 1
        return ran

    def _stale_before(self) -> float:
        return self._clock.now() - CLAIM_STALE_S

    def _run(self, run: ActionRun, incident: Incident) -> None:
        try:
            result, state = self._runner.run(run, incident), ActionState.SUCCEEDED
        except ActionFailed as exc:
            result, state = str(exc), ActionState.FAILED
        kind = (
            EntryKind.ACTION_SUCCEEDED
            if state is ActionState.SUCCEEDED
            else EntryKind.ACTION_FAILED
        )
        entry = TimelineEntry(
            incident_id=incident.id,
            at=self._clock.now(),
            kind=kind,
            actor=incident.actor,
            message=f"{run.key}: {result}",
            details={"action": run.id, "key": run.key},
        )
        done = replace(run, state=state, result=result)
        with self._store.transaction() as tx:
            journal.finished(tx, incident, done, entry)

    async def run(self) -> None:
        """Decide and act every `interval`, forever; a failing database is retried, not fatal.

        The alerts are read on the event loop (the rule manager's thread); deciding and
        acting (commands, webhooks) run on a worker thread, so the loop never blocks."""
        while True:
            try:
                await asyncio.to_thread(self._round, self.observe())
            except SQLAlchemyError as exc:
                log.warning("incident manager: cannot reach the state database: %s", exc)
            await self._clock.sleep(self.spec.interval)

    def _round(self, observed: Observed) -> None:
        self._decide(observed)
        self.run_requested()
