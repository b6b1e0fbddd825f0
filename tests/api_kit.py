"""What the /api/v1 tests share: the real control-plane app over a store, rollouts, tokens.

The app is the one `safeship serve` runs (server/app.py with /api/v1 mounted as
wiring/serve.py does), so the tests see its routes, error handlers and OpenAPI schema.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import uvicorn
from fastapi import FastAPI
from prometheus_client import CollectorRegistry

from safeship.config.incidents import IncidentsSpec
from safeship.core.clock import Clock, SystemClock
from safeship.core.incidents import Incident, Status
from safeship.core.net import free_port
from safeship.incidents.manager import IncidentManager
from safeship.metrics.promql import Engine
from safeship.metrics.store import SeriesStore
from safeship.rollout.state import RolloutStatus
from safeship.server.api import Control, mount_api
from safeship.server.app import create_app, http_server
from safeship.store.records import RolloutRecord
from safeship.store.repository import Store
from safeship.store.tokens import Role


def api_app(
    store: Store,
    *,
    clock: Clock | None = None,
    poll_s: float = 0.05,
    control: Control | None = None,
    incidents: IncidentsSpec | None = None,
) -> FastAPI:
    clock = clock or SystemClock()
    series = SeriesStore(retention=3600)
    app = create_app(
        engine=Engine(series),
        store=series,
        clock=clock,
        registry=CollectorRegistry(),
        ready=lambda: True,
    )
    manager = IncidentManager(incidents or IncidentsSpec(), store=store, clock=clock)
    mount_api(app, store=store, clock=clock, poll_s=poll_s, incidents=manager, control=control)
    return app


def running_rollout(
    rollout_id: str = "web-1", *, service: str = "web", now: float | None = None
) -> RolloutRecord:
    """A rollout as its controller saves it mid-flight (canary at 20 %, step 2)."""
    at = time.time() if now is None else now
    status = RolloutStatus(
        rollout_id=rollout_id,
        service=service,
        stable_version="v1",
        canary_version="v2",
        steps_hash="h",
        started_at=at,
        step_started_at=at,
        step_index=2,
        canary_weight=20.0,
        message="analysing",
    )
    return RolloutRecord(
        id=rollout_id,
        service=service,
        from_version="v1",
        to_version="v2",
        strategy="canary",
        actor="ci",
        phase=status.phase.value,
        created_at=at,
        updated_at=at,
        reason="analysing",
        status=status.model_dump(mode="json"),
        steps_hash="h",
    )


def tokens(store: Store) -> dict[Role, str]:
    """One token per role, named after it."""
    return {role: store.create_token(name=role.value, role=role, actor="test")[1] for role in Role}


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@contextmanager
def served(app: FastAPI) -> Iterator[str]:
    """`app` under a real uvicorn on a free loopback port, in a thread; yields its URL."""
    port = free_port()
    server: uvicorn.Server = http_server(app, host="127.0.0.1", port=port)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


def open_incident(incident_id: str, *, service: str = "web") -> Incident:
    """An incident as the incident manager opens it, nobody acknowledged yet."""
    return Incident(
        id=incident_id,
        definition="errors",
        title=f"errors: service={service}",
        severity="critical",
        owner="team-web",
        group=(("service", service),),
        service=service,
        status=Status.OPEN,
        opened_at=time.time(),
    )
