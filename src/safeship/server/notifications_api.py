"""/api/v1/notifications: the outbox as people see it, and requeueing a dead letter.

HTTP only: reads and the requeue go to the store (store/outbox.py); the delivery worker
picks a requeued notification up on its next round. Listing needs `viewer`, a retry
`operator` (audited with the caller's token name).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query

from safeship.server.auth import Authenticator, Principal
from safeship.server.models import ErrorBody, NotificationView
from safeship.store.outbox import MAX_ID, OutboxStatus
from safeship.store.repository import Store
from safeship.store.tokens import Role

PREFIX = "/api/v1"


def _errors(*codes: int) -> dict[int | str, dict[str, Any]]:
    return {code: {"model": ErrorBody} for code in codes}


def notifications_api(store: Store, auth: Authenticator) -> APIRouter:
    router = APIRouter(prefix=PREFIX, tags=["notifications"], responses=_errors(401, 403, 422, 429))
    viewer = Depends(auth.require(Role.viewer))
    operator = Depends(auth.require(Role.operator))

    @router.get("/notifications")
    def list_notifications(
        status: OutboxStatus | None = None,
        limit: Annotated[int, Query(ge=1, le=1000)] = 100,
        _: Principal = viewer,
    ) -> list[NotificationView]:
        """The newest `limit` notifications (of one status with `status`), oldest first."""
        return [NotificationView.of(r) for r in store.notifications(status=status, limit=limit)]

    @router.post("/notifications/{row_id}/retry", responses=_errors(404, 409))
    def retry_notification(
        row_id: Annotated[int, Path(ge=1, le=MAX_ID)], caller: Principal = operator
    ) -> NotificationView:
        """Send a dead letter again, from now, with a fresh count of attempts; audited."""
        return NotificationView.of(store.retry_notification(row_id, actor=caller.name))

    return router
