"""Persists every plan before it is acted on: the rollout's status and its audit trail, at once.

This is the reconciler's `StatusSink` over the store. One transaction per tick, so the
status and the record of what is about to be done can never disagree after a crash.
"""

from __future__ import annotations

from safeship.config.models import RolloutSpec
from safeship.core.clock import Clock
from safeship.rollout.state import Phase, Plan, RolloutStatus
from safeship.store.records import RolloutRecord, RolloutResult
from safeship.store.repository import Store

RESULTS: dict[Phase, RolloutResult] = {Phase.PROMOTED: "promoted", Phase.ROLLED_BACK: "rolled_back"}


class StoreJournal:
    def __init__(self, store: Store, *, actor: str, clock: Clock) -> None:
        self.store, self.actor, self.clock = store, actor, clock
        self._last: RolloutStatus | None = None

    def record(self, plan: Plan, *, spec: RolloutSpec) -> None:
        status = plan.status
        if status == self._last and not plan.actions and not plan.events:
            return  # nothing changed and nothing to do: no write
        with self.store.transaction() as tx:
            now = self.clock.now()
            tx.save_rollout(to_record(status, spec=spec, actor=self.actor, now=now))
            for what in [*plan.events, *(a.describe() for a in plan.actions)]:
                tx.audit(
                    actor=self.actor,
                    action=what,
                    reason=status.message,
                    rollout_id=status.rollout_id,
                    service=status.service,
                )
            if status.phase is Phase.PROMOTED:
                tx.set_stable_version(status.service, status.canary_version)
        self._last = status


def to_record(status: RolloutStatus, *, spec: RolloutSpec, actor: str, now: float) -> RolloutRecord:
    return RolloutRecord(
        id=status.rollout_id,
        service=status.service,
        from_version=status.stable_version,
        to_version=status.canary_version,
        strategy="canary",
        actor=actor,
        phase=status.phase.value,
        created_at=status.started_at,
        updated_at=now,
        finished_at=status.finished_at,
        result=RESULTS.get(status.phase),
        reason=status.message,
        spec=spec.model_dump(mode="json", by_alias=True),
        status=status.model_dump(mode="json"),
        steps_hash=status.steps_hash,
    )


def from_record(record: RolloutRecord) -> RolloutStatus:
    return RolloutStatus.model_validate(record.status)
