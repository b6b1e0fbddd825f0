"""One router worker: an `EmbeddedRouter` process sharing the agent's listen port.

    python -m safeship.agent.worker --state-dir D --service S --id ID --metrics-port P

Started (detached) by the agent, two or more per service on one port with SO_REUSEPORT, so
the kernel spreads connections over them and a killed worker takes only its own connections
with it. The split comes from the desired-state file, not from the agent process: the worker
polls the file (a stat every 100 ms; it is replaced atomically, never half-written) and
applies a route whose generation is new, with the router's draining semantics. So a worker
keeps serving the last split while the agent is down, and a restarted worker reads the
current one. Once a generation is applied and drained it writes `workers/ID.json`, which
the agent reports and `AgentRouter.apply` waits for. Its counters are served on its own
metrics port (every worker has one; the agent sums them for `GET .../counters` and
merges them, labelled by worker, at the route's `router.metricsListen`).
SIGTERM/SIGINT: stop accepting, drain in-flight requests (the route's drainTimeout), exit 0.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import signal
import sys
from pathlib import Path

from prometheus_client import ProcessCollector

from safeship.agent import files
from safeship.agent.model import Desired, Route
from safeship.traffic.proxy.embedded import EmbeddedRouter
from safeship.traffic.router import router_for

WATCH_INTERVAL = 0.1


def applied_path(state_dir: Path, worker_id: str) -> Path:
    return state_dir / "workers" / f"{worker_id}.json"


def read_route(state_dir: Path, service: str) -> Route | None:
    desired = files.load(state_dir / "desired.json", Desired)
    found = desired.services.get(service)
    return None if found is None else found.route


class Worker:
    """Applies each new route generation of one service to its router."""

    def __init__(self, *, state_dir: Path, service: str, worker_id: str) -> None:
        self._state_dir = state_dir
        self._service = service
        self._id = worker_id
        self._stamp: tuple[int, int, int] | None = None
        self.generation = 0

    async def follow(self, router: EmbeddedRouter, stop: asyncio.Event) -> None:
        while not stop.is_set():
            route = self._changed()
            if route is not None and route.generation != self.generation:
                await self.apply(router, route)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), WATCH_INTERVAL)

    async def apply(self, router: EmbeddedRouter, route: Route) -> None:
        await router.apply(route.request.split.traffic_split())
        self.generation = route.generation
        record = {"generation": route.generation, "pid": os.getpid()}
        path = applied_path(self._state_dir, self._id)
        path.parent.mkdir(parents=True, exist_ok=True)
        files.write_atomically(path, json.dumps(record).encode())

    def _changed(self) -> Route | None:
        """The route when the file changed since last look (None when it did not)."""
        try:
            st = (self._state_dir / "desired.json").stat()
        except FileNotFoundError:
            return None
        stamp = (st.st_ino, st.st_mtime_ns, st.st_size)
        if stamp == self._stamp:
            return None
        self._stamp = stamp
        return read_route(self._state_dir, self._service)


async def serve(*, state_dir: Path, service: str, worker_id: str, metrics_port: int) -> int:
    route = read_route(state_dir, service)
    if route is None:
        print(f"worker {worker_id}: no route for service {service!r}", file=sys.stderr)
        return 2
    spec = route.request.router.model_copy(update={"metrics_listen": f"127.0.0.1:{metrics_port}"})
    router = router_for(spec, service=service, reuse_port=True)
    assert isinstance(router, EmbeddedRouter)  # the API refuses kind "none"
    # process_start_time_seconds on the worker's stable port: SafeshipRestartLoop sees restarts
    ProcessCollector(registry=router.registry)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    worker = Worker(state_dir=state_dir, service=service, worker_id=worker_id)
    await router.start()
    try:
        await worker.follow(router, stop)
    finally:
        await router.stop()
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="safeship-agent-worker")
    parser.add_argument("--state-dir", type=Path, required=True)
    parser.add_argument("--service", required=True)
    parser.add_argument("--id", required=True)
    parser.add_argument("--metrics-port", type=int, required=True)
    args = parser.parse_args(argv)
    coroutine = serve(
        state_dir=args.state_dir,
        service=args.service,
        worker_id=args.id,
        metrics_port=args.metrics_port,
    )
    try:
        import uvloop

        return uvloop.run(coroutine)
    except ImportError:  # uvloop is a speed-up, not a requirement
        return asyncio.run(coroutine)


if __name__ == "__main__":
    sys.exit(main())
