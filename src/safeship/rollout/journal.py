"""Persists every plan before it is acted on: the rollout's status and its audit trail, at once.

This is the reconciler's `StatusSink` and `RequestSource` over the store. One transaction per
tick, so the status and the record of what is about to be done can never disagree after a crash.
With a `fence` (the leader's lease term, store/leadership.py), the same transaction first checks
the term is still current: a controller that lost its lease raises `NotLeader` before acting.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from safeship.config.models import RolloutSpec
from safeship.core.clock import Clock
from safeship.rollout.state import Action, DeployTarget, Phase, Plan, Request, RolloutStatus
from safeship.store.chain import ROLLOUT_STATE
from safeship.store.lease import Fence
from safeship.store.records import RequestRecord, RolloutRecord, RolloutResult
from safeship.store.repository import Store

RESULTS: dict[Phase, RolloutResult] = {Phase.PROMOTED: "promoted", Phase.ROLLED_BACK: "rolled_back"}


class StoreJournal:
    def __init__(
        self,
        store: Store,
        *,
        actor: str,
        clock: Clock,
        fence: Callable[[], Fence] | None = None,
    ) -> None:
        self.store, self.actor, self.clock, self.fence = store, actor, clock, fence
        self._last: RolloutStatus | None = None
        self._shown: dict[str, Any] | None = None  # the rollout state the chain last recorded

    def record(self, plan: Plan, *, spec: RolloutSpec) -> None:
        status = plan.status
        if status == self._last and not (plan.actions or plan.events or plan.consumed):
            return  # nothing changed and nothing to do: no write
        with self.store.transaction() as tx:
            term: dict[str, Any] = {}
            if self.fence is not None:
                fence = self.fence()
                tx.check_fence(fence)  # compare-and-persist: NotLeader ends the tick
                term = {"term": fence.token}  # who acted: failover checks read it back
            now = self.clock.now()
            record = to_record(status, spec=spec, actor=self.actor, now=now)
            tx.save_rollout(record)
            shown = record.shown()
            entries = [*plan.events, *describe_actions(plan.actions)]
            if not entries and shown != self._shown:
                entries = ["rollout state"]  # the row changed: the chain must say so too
            for index, what in enumerate(entries):
                last = index == len(entries) - 1  # the last entry carries the row's state
                tx.audit(
                    actor=self.actor,
                    action=what,
                    reason=status.message,
                    rollout_id=status.rollout_id,
                    service=status.service,
                    details={ROLLOUT_STATE: shown, **term} if last else (term or None),
                )
            if entries:
                self._shown = shown
            tx.mark_requests_handled(list(plan.consumed))
            if status.phase is Phase.PROMOTED:
                tx.set_stable_version(status.service, status.canary_version)
            if status.phase.terminal:
                tx.checkpoint_audit()  # a finished rollout's record is signed at once
        self._last = status

    def pending(self, rollout_id: str) -> list[Request]:
        return [to_request(r) for r in self.store.pending_requests(rollout_id)]


def to_request(record: RequestRecord) -> Request:
    options = dict(record.options)
    return Request(
        id=record.id,
        kind=record.kind,  # type: ignore[arg-type]  # written by the CLI from the same Literal
        actor=record.actor,
        reason=record.reason,
        full=bool(options.get("full", False)),
        mode="gradual" if options.get("mode") == "gradual" else "fast",
    )


def to_record(status: RolloutStatus, *, spec: RolloutSpec, actor: str, now: float) -> RolloutRecord:
    return RolloutRecord(
        id=status.rollout_id,
        service=status.service,
        from_version=status.stable_version,
        to_version=status.canary_version,
        strategy=status.strategy,
        actor=actor,
        phase=status.phase.value,
        created_at=status.started_at,
        updated_at=now,
        finished_at=status.finished_at,
        result="aborted" if status.aborted and status.phase.terminal else RESULTS.get(status.phase),
        reason=status.message,
        spec=spec.model_dump(mode="json", by_alias=True),
        status=status.model_dump(mode="json"),
        steps_hash=status.steps_hash,
    )


def from_record(record: RolloutRecord) -> RolloutStatus:
    return RolloutStatus.model_validate(record.status)


BULK = 10  # more deploys of one version than this in one tick: one audit line for them all


def describe_actions(actions: Sequence[Action]) -> list[str]:
    """One audit line per action, except a wave's many deploys of one version, which get one
    line naming the count and the first and last target (100,000 inserts would dominate)."""
    deploys: dict[str, list[str]] = {}
    for action in actions:
        if isinstance(action, DeployTarget):
            deploys.setdefault(action.version, []).append(action.target)
    bulk = {v for v, targets in deploys.items() if len(targets) > BULK}
    lines: list[str] = []
    for action in actions:
        if not isinstance(action, DeployTarget) or action.version not in bulk:
            lines.append(action.describe())
        elif action.target == deploys[action.version][0]:
            names = deploys[action.version]
            lines.append(
                f"deploy {action.version} to {len(names)} targets: {names[0]} … {names[-1]}"
            )
    return lines
