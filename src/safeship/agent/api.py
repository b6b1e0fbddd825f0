"""The agent's local API: FastAPI on a Unix socket (mode 0600: only its owner may steer it).

    GET  /health                       the agent answers (its pid)
    GET  /state                        desired and observed state of every service
    PUT  /services/{name}/replicas     the service's pools (ReplicasRequest)
    PUT  /services/{name}/route        the split and router settings (RouteRequest)
    GET  /services/{name}/counters     router counters per version, summed over workers
    POST /shutdown                     exit; `{"fleet": true}` stops replicas and workers too

PUTs store the desired state (on disk, then in memory) and return at once with
`{"changed": bool}`; the same body twice changes nothing. Callers follow `GET /state` to see
replicas turn ready and workers apply a route generation. It decides nothing itself.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from dataclasses import asdict
from typing import Any

import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from safeship.agent.daemon import Agent
from safeship.agent.model import ReplicasRequest, RouteRequest, StateView
from safeship.core.errors import SafeshipError


def create_app(agent: Agent) -> FastAPI:
    app = FastAPI(title="safeship agent", docs_url=None, redoc_url=None, openapi_url=None)

    @app.exception_handler(SafeshipError)
    async def _refused(request: Request, exc: SafeshipError) -> JSONResponse:
        return JSONResponse({"error": str(exc)}, status_code=exc.http_status)

    @app.get("/health")
    async def health() -> dict[str, Any]:
        return {"status": "ok", "pid": agent.state().pid}

    @app.get("/state")
    async def state() -> StateView:
        return agent.state()

    @app.put("/services/{name}/replicas")
    async def replicas(name: str, body: ReplicasRequest) -> dict[str, bool]:
        return {"changed": await agent.put_replicas(name, body)}

    @app.put("/services/{name}/route")
    async def route(name: str, body: RouteRequest) -> dict[str, bool]:
        return {"changed": await agent.put_route(name, body)}

    @app.get("/services/{name}/counters")
    async def counters(name: str) -> dict[str, Any]:
        return {v: asdict(c) for v, c in (await agent.counters(name)).items()}

    @app.post("/shutdown")
    async def shutdown(body: ShutdownRequest) -> dict[str, bool]:
        agent.shutdown(fleet=body.fleet)
        return {"stopping": True}

    return app


class ShutdownRequest(BaseModel):
    fleet: bool = False


class ApiServer(uvicorn.Server):
    """uvicorn that leaves signals to the agent (which also stops the supervisor on them)."""

    def __init__(self, config: uvicorn.Config, sock: socket.socket) -> None:
        super().__init__(config)
        self._sock = sock

    @contextlib.contextmanager
    def capture_signals(self) -> Any:
        yield

    async def serve_until(self, stop: asyncio.Event) -> None:
        async def stopper() -> None:
            await stop.wait()
            self.should_exit = True

        watcher = asyncio.create_task(stopper())
        try:
            await self.serve(sockets=[self._sock])
        finally:
            watcher.cancel()


def api_server(agent: Agent, sock: socket.socket) -> ApiServer:
    config = uvicorn.Config(create_app(agent), log_level="warning", lifespan="off")
    return ApiServer(config, sock)
