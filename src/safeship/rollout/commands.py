"""People's commands to a rollout (pause, resume, promote, abort, rollback), written to the store.

The one place a command is accepted, whoever sends it: the CLI on the store directly and the
API (`server/api.py`) both call `request`. It refuses what cannot work (an unknown or finished
rollout), then writes the request and its audit entry in one transaction; the controller
running the rollout picks the request up and its pure planner applies it (rollout/gates.py).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from safeship.core.errors import Conflict, NotFound
from safeship.rollout.state import RequestKind
from safeship.store.records import RolloutRecord
from safeship.store.repository import Store

RETRYABLE = ("rolled_back", "aborted", "failed")


def request(
    store: Store,
    *,
    rollout_id: str,
    kind: RequestKind,
    actor: str,
    reason: str = "",
    options: Mapping[str, Any] | None = None,
) -> int:
    """Queue `kind` for the controller of `rollout_id`, audited; the request's id."""
    with store.transaction() as tx:
        record = _unfinished(tx.get_rollout(rollout_id), rollout_id)
        request_id = tx.add_request(
            rollout_id=rollout_id, kind=kind, actor=actor, reason=reason, options=options
        )
        tx.audit(
            actor=actor,
            action=f"request {kind}",
            reason=reason,
            rollout_id=rollout_id,
            service=record.service,
            details=options,
        )
    return request_id


def _unfinished(record: RolloutRecord | None, rollout_id: str) -> RolloutRecord:
    if record is None:
        raise NotFound(f"no rollout {rollout_id}; `safeship status` lists them")
    if record.finished:
        raise Conflict(f"rollout {rollout_id} is already {record.phase}")
    return record


def retryable(record: RolloutRecord | None, rollout_id: str) -> RolloutRecord:
    """`record` if it may be run again: it ended rolled back, aborted or failed."""
    if record is None or record.result not in RETRYABLE:
        found = "no such rollout" if record is None else f"it is {record.phase}"
        error = NotFound if record is None else Conflict
        raise error(f"only a rolled-back or aborted rollout can be retried; {found} ({rollout_id})")
    return record
