"""The control-plane HTTP app (FastAPI): Prometheus-compatible API, health and own metrics.

Where it sits: on top of everything (DESIGN §4, default 127.0.0.1:8470). It mounts
`/prometheus/api/v1/...` over the engine and store (and the rollup history when given,
for queries older than the store; `rules` and `alerts` over the rule
manager when there is one), `/health/liveness` (the process answers), `/health/readiness`
(the wiring's `ready()` lists no reason not to be: scraping, rules and the store work),
`/runbooks/` (the packaged runbooks alert links open, server/runbooks_api.py)
and `/metrics` (its own registry, passed in rather than global), and `http_server` runs it
under uvicorn. It decides nothing itself; the wiring (`wiring/serve.py`) builds what it
serves. An error raised on purpose answers with the HTTP status its category maps to
(core/errors.py).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from safeship.alerting.manager import RuleManager
from safeship.core.clock import Clock
from safeship.core.errors import SafeshipError
from safeship.core.secrets import scrub
from safeship.metrics.promql import Engine
from safeship.metrics.retention import HistoryReader
from safeship.metrics.store import SeriesStore
from safeship.server.prometheus_api import error_type, prometheus_api
from safeship.server.rules_api import rules_api
from safeship.server.runbooks_api import runbooks_api


def create_app(
    *,
    engine: Engine,
    store: SeriesStore,
    clock: Clock,
    registry: CollectorRegistry,
    ready: Callable[[], Awaitable[list[str]]],
    rules: RuleManager | None = None,
    history: HistoryReader | None = None,
) -> FastAPI:
    app = FastAPI(title="safeship control plane")
    app.include_router(prometheus_api(engine, store, clock=clock, history=history))
    if rules is not None:
        app.include_router(rules_api(rules))
    app.include_router(runbooks_api())  # no token: what alert links open

    @app.exception_handler(SafeshipError)
    async def refused(request: Request, exc: SafeshipError) -> JSONResponse:
        """An error raised on purpose answers with its category's status, never a bare 500."""
        body = {
            "status": "error",
            "errorType": error_type(exc.http_status),
            "error": scrub(str(exc)),
        }
        return JSONResponse(body, status_code=exc.http_status)

    @app.get("/health/liveness")
    async def liveness() -> JSONResponse:
        return JSONResponse({"status": "ok"})

    @app.get("/health/readiness")
    async def readiness() -> JSONResponse:
        """200 when ready; 503 with every reason not to be (wiring/readiness.py decides)."""
        reasons = await ready()
        if not reasons:
            return JSONResponse({"status": "ok"})
        return JSONResponse({"status": "not ready", "reasons": reasons}, status_code=503)

    @app.get("/metrics")
    async def metrics() -> Response:
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)

    return app


def http_server(
    app: FastAPI,
    *,
    host: str,
    port: int,
    tls_cert: str | None = None,
    tls_key: str | None = None,
) -> uvicorn.Server:
    """uvicorn for `app`, quiet, HTTPS when given a certificate and key; `await
    server.serve()` runs it until SIGINT/SIGTERM."""
    return uvicorn.Server(
        uvicorn.Config(
            app,
            host=host,
            port=port,
            log_level="warning",
            lifespan="off",
            ssl_certfile=tls_cert,
            ssl_keyfile=tls_key,
        )
    )
