"""GET /api/v1/events: every rollout status change as Server-Sent Events, resumable.

The controller saves a rollout's status each time it changes (rollout/journal.py), stamping
`updated_at`; this stream polls the store for rollouts saved after its cursor
`(updated_at, id)` and sends each as a `rollout` event whose id is that cursor. A client that
reconnects with `Last-Event-ID` resumes right after the last event it saw (EventSource does it
on its own); without one, the stream starts at the newest change. A reader that falls behind
sees a rollout's latest state, not every intermediate one.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

from fastapi import APIRouter, Depends, Header
from fastapi.responses import StreamingResponse
from starlette.concurrency import run_in_threadpool

from safeship.core.errors import InvalidInput
from safeship.server.auth import Authenticator, Principal
from safeship.server.models import ErrorBody, RolloutSummary
from safeship.store.repository import Store
from safeship.store.rollouts import Cursor
from safeship.store.tokens import Role

KEEPALIVE_S = 15.0  # a comment line this often keeps proxies from closing an idle stream
RETRY_MS = 2000  # how soon EventSource reconnects
BATCH = 100


def event_id(cursor: Cursor) -> str:
    """`<updated_at>:<rollout id>`; repr keeps the float exact, so resuming skips nothing."""
    return f"{cursor[0]!r}:{cursor[1]}"


def parse_event_id(text: str) -> Cursor:
    at, _, rollout_id = text.partition(":")
    try:
        return float(at), rollout_id
    except ValueError:
        raise InvalidInput(f"Last-Event-ID {text!r} is not an id this stream sent") from None


def events_api(store: Store, auth: Authenticator, *, poll_s: float) -> APIRouter:
    router = APIRouter(prefix="/api/v1", tags=["events"])
    sse: dict[str, Any] = {"content": {"text/event-stream": {"schema": {"type": "string"}}}}
    refusals: dict[int | str, dict[str, Any]] = {
        code: {"model": ErrorBody} for code in (400, 401, 403, 422, 429)
    }

    @router.get("/events", response_class=StreamingResponse, responses={200: sse, **refusals})
    async def events(
        _: Principal = Depends(auth.require(Role.viewer)),
        last_event_id: str | None = Header(None, alias="Last-Event-ID"),
    ) -> StreamingResponse:
        """Rollout status changes as `event: rollout`, data a rollout summary (JSON)."""
        if last_event_id:
            cursor: Cursor | None = parse_event_id(last_event_id)
        else:
            cursor = await run_in_threadpool(store.newest_rollout_change)
        return StreamingResponse(
            _stream(store, cursor, poll_s=poll_s),
            media_type="text/event-stream",
            headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
        )

    return router


async def _stream(store: Store, cursor: Cursor | None, *, poll_s: float) -> AsyncIterator[str]:
    """Starlette cancels this when the client goes away."""
    yield f"retry: {RETRY_MS}\n\n"
    quiet = 0.0
    while True:
        changed = await run_in_threadpool(store.rollouts_changed_since, cursor, limit=BATCH)
        for record in changed:
            cursor = (record.updated_at, record.id)
            data = RolloutSummary.of(record).model_dump_json()
            yield f"id: {event_id(cursor)}\nevent: rollout\ndata: {data}\n\n"
        if len(changed) == BATCH:
            continue
        await asyncio.sleep(poll_s)
        quiet = 0.0 if changed else quiet + poll_s
        if quiet >= KEEPALIVE_S:
            quiet = 0.0
            yield ": keepalive\n\n"
