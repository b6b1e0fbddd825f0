"""/api/v1/analytics: event ingest, windowed metrics, services, SLA and pipeline stats.

Where it sits: the HTTP edge of the event path (DESIGN §4). `POST /events` takes a JSON
array or NDJSON (optionally `Content-Encoding: gzip`) from an `ingest` token (or an
operator's), refuses a body over the batch limits with 413 before reading it whole, and
answers only once `EventHub` has committed the batch's windows (events/pipeline.py), so a
200 means the events are durably counted and a retry after anything else is safe (event ids
de-duplicate). Reads need a viewer token. It decides nothing; the hub and storage do.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, FastAPI, Query, Request
from starlette.concurrency import run_in_threadpool

from safeship.core.clock import Clock
from safeship.core.durations import parse_duration
from safeship.core.errors import InvalidInput, StoreError
from safeship.events.decode import BatchTooLarge, decode
from safeship.events.pipeline import EventHub
from safeship.events.storage import finest_covering
from safeship.server.auth import Authenticator, FailureLimiter, Principal
from safeship.store.repository import Store
from safeship.store.tokens import Role

PREFIX = "/api/v1/analytics"
WINDOWS = {"1m": 60, "5m": 300, "1h": 3600}
HEALTH_DEGRADED, HEALTH_FAILING = 0.01, 0.05  # error ratios over the last 5 minutes
BATCH_BODY: dict[str, Any] = {
    "required": True,
    "description": "Events: a JSON array or NDJSON, optionally `Content-Encoding: gzip`.",
    "content": {
        "application/json": {"schema": {"type": "array", "items": {"type": "object"}}},
        "application/x-ndjson": {"schema": {"type": "string"}},
    },
}
REFUSALS: dict[int | str, dict[str, Any]] = {
    413: {"description": "over maxBatchBytes or maxBatchEvents: split the batch"},
    503: {"description": "not stored (windows being restored, or the database failed): retry"},
}


def mount_analytics(app: FastAPI, *, hub: EventHub, store: Store, clock: Clock) -> None:
    """Add /api/v1/analytics to `app`, authenticated against the tokens in `store`."""
    auth = Authenticator(store, FailureLimiter(clock=clock))
    app.include_router(analytics_api(hub, auth, clock=clock))


def analytics_api(hub: EventHub, auth: Authenticator, *, clock: Clock) -> APIRouter:
    router = APIRouter(prefix=PREFIX, tags=["analytics"])
    viewer = Depends(auth.require(Role.viewer))
    ingester = Depends(auth.require(Role.ingest))
    limits = hub.config

    @router.post("/events", openapi_extra={"requestBody": BATCH_BODY}, responses=REFUSALS)
    async def ingest(
        request: Request, stream: str | None = None, _: Principal = ingester
    ) -> dict[str, Any]:
        """Count a batch of events; 200 once they are durably stored."""
        if not hub.ready:
            raise StoreError("event windows are being restored; retry in a moment")
        pipeline = hub.http_stream(stream)
        body = await _body(request, limits.max_batch_bytes)
        gzip = request.headers.get("content-encoding", "").lower() == "gzip"
        events, bad = decode(
            body, gzip=gzip, max_bytes=limits.max_batch_bytes, max_events=limits.max_batch_events
        )
        result = await run_in_threadpool(pipeline.ingest, events, malformed=bad)
        return {"stream": pipeline.name, **result.as_dict()}

    @router.get("/metrics")
    def metrics(
        service: str | None = None,
        window: Annotated[str, Query(pattern="^(1m|5m|1h)$")] = "1m",
        from_: Annotated[str | None, Query(alias="from")] = None,
        to: str | None = None,
        _: Principal = viewer,
    ) -> list[dict[str, Any]]:
        """Stored windows of one size, oldest first; `from`/`to`: unix seconds or `-1h`."""
        now = clock.now()
        frm, until = _time(from_, now, default=now - 3600), _time(to, now, default=now + 1)
        rows = hub.storage.rows(service=service, resolution_s=WINDOWS[window], frm=frm, to=until)
        return [
            {**r.__dict__, "error_ratio": r.errors / r.count if r.count else None} for r in rows
        ]

    @router.get("/services")
    def services(_: Principal = viewer) -> list[dict[str, Any]]:
        """Every service with events in the last 5 minutes: counts, error ratio, health."""
        rows = hub.storage.services(since=int(clock.now()) - 300)
        return [_health(name, count, errors) for name, count, errors in rows]

    @router.get("/sla")
    def sla(service: str, since: str = "30d", _: Principal = viewer) -> dict[str, Any]:
        """Availability of `service` (share of events that are not errors) since `since`."""
        span = _duration(since)
        resolution = finest_covering(hub.config.retention_s, span)
        now = int(clock.now())
        found = hub.storage.availability(
            service, resolution_s=resolution, since=now - int(span), until=now + 1
        )
        return {**found.__dict__, "availability": found.availability}

    @router.get("/stats")
    def stats(_: Principal = viewer) -> dict[str, Any]:
        """Per stream: totals, ingest rate, lag p99, open windows; dead letters kept."""
        return hub.stats()

    @router.get("/dead-letters")
    def dead_letters(
        limit: Annotated[int, Query(ge=1, le=1000)] = 100, _: Principal = viewer
    ) -> list[dict[str, Any]]:
        """The newest events refused, with the reason."""
        return hub.storage.dead_letters(limit=limit)

    return router


async def _body(request: Request, limit: int) -> bytes:
    """The request body, refused with 413 as soon as it passes `limit` bytes."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise BatchTooLarge(f"batch of {declared} bytes is over the {limit} byte limit")
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise BatchTooLarge(f"batch over the {limit} byte limit; send smaller batches")
        chunks.append(chunk)
    return b"".join(chunks)


def _duration(text: str) -> float:
    try:
        return parse_duration(text)
    except ValueError as exc:
        raise InvalidInput(str(exc)) from None


def _time(text: str | None, now: float, *, default: float) -> int:
    """Unix seconds, or a duration before now written `-1h`."""
    if text is None:
        return int(default)
    if text.startswith("-"):
        return int(now - _duration(text[1:]))
    try:
        return int(float(text))
    except ValueError:
        raise InvalidInput(f"expected unix seconds or -DURATION, found {text!r}") from None


def _health(service: str, count: int, errors: int) -> dict[str, Any]:
    ratio = errors / count if count else 0.0
    health = (
        "failing" if ratio >= HEALTH_FAILING else "degraded" if ratio >= HEALTH_DEGRADED else "ok"
    )
    return {
        "service": service,
        "events": count,
        "errors": errors,
        "error_ratio": ratio,
        "health": health,
    }
