"""The agent process: one per machine, holding the lock on its state dir.

Start-up order matters for "never start a replica twice": take an exclusive lock on the
state dir (a second agent on it exits), load the desired state, re-adopt what the last run
recorded (`Supervisor.adopt`), and only then supervise and open the API. Every change of
the desired state is written to disk before the supervisor acts on it. On SIGTERM/SIGINT the
agent stops answering the API and exits; replicas and router workers keep running unless
`stop_fleet_on_exit` (then everything is stopped: SIGTERM to each group, SIGKILL later).
`POST /shutdown` (`safeship down`) does the same, with or without the fleet. An agent whose
state dir is removed under it stops with its fleet (nobody could re-adopt it). A route with
`router.metricsListen` gets one endpoint there merging its workers' series (`MetricsEndpoints`).
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import json
import logging
import os
import signal
import socket
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from safeship.agent import files
from safeship.agent.backoff import RestartPolicy
from safeship.agent.counters import fetch_text, scrape_sum
from safeship.agent.desired import with_replicas, with_route
from safeship.agent.exposition import merge, render, scrape_errors
from safeship.agent.model import (
    Desired,
    ReplicasRequest,
    RouteRequest,
    Service,
    ServiceView,
    StateView,
    Unit,
    UnitView,
)
from safeship.agent.supervisor import Supervisor
from safeship.agent.worker import applied_path
from safeship.core.addresses import split_host_port
from safeship.core.clock import Clock, SystemClock
from safeship.core.errors import DeployError
from safeship.core.net import free_port
from safeship.core.types import VersionCounters
from safeship.traffic.proxy.exposition import start_text_endpoint

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class AgentOptions:
    state_dir: Path
    socket_path: Path
    stop_fleet_on_exit: bool = False
    start_timeout: float = 15.0
    stop_timeout: float = 5.0
    policy: RestartPolicy = field(default_factory=RestartPolicy)


class Agent:
    """Desired state, the supervisor keeping it, and what the API asks of them."""

    def __init__(self, options: AgentOptions, *, clock: Clock | None = None) -> None:
        self.options = options
        self.desired_path = options.state_dir / "desired.json"
        self.desired = files.load(self.desired_path, Desired)
        self.supervisor = Supervisor(
            state_dir=options.state_dir,
            desired=self.desired,
            clock=clock or SystemClock(),
            policy=options.policy,
            start_timeout=options.start_timeout,
            stop_timeout=options.stop_timeout,
        )
        self._lock = asyncio.Lock()
        self.stopping = asyncio.Event()
        self.stop_fleet = options.stop_fleet_on_exit
        self.endpoints = MetricsEndpoints(self)

    def shutdown(self, *, fleet: bool) -> None:
        """Exit soon (`safeship down`); with `fleet`, stop every replica and worker first."""
        self.stop_fleet = self.stop_fleet or fleet
        self.stopping.set()

    async def put_replicas(self, name: str, request: ReplicasRequest) -> bool:
        """Store the service's pools; True when that changed the desired state."""
        async with self._lock:
            service = self.desired.services.get(name, Service())
            new = with_replicas(service, name, request, allocate_port=free_port)
            return self._store(name, service, new)

    async def put_route(self, name: str, request: RouteRequest) -> bool:
        if request.router.kind != "embedded":
            raise DeployError("the agent runs the embedded router; kind 'none' needs no agent")
        async with self._lock:
            service = self.desired.services.get(name, Service())
            new = with_route(
                service,
                name,
                request,
                worker_argv=self._worker_argv(name),
                allocate_port=free_port,
            )
            changed = self._store(name, service, new)
        await self.endpoints.sync()  # metricsListen answers once the route is accepted
        return changed

    def state(self) -> StateView:
        return StateView(
            pid=os.getpid(),
            services={name: self._view(s) for name, s in self.desired.services.items()},
        )

    async def counters(self, name: str) -> dict[str, VersionCounters]:
        service = self.desired.services.get(name, Service())
        return await scrape_sum(self.supervisor.http, [w.port for w in service.workers])

    def _store(self, name: str, old: Service, new: Service) -> bool:
        if new == old and name in self.desired.services:
            return False
        services = {**self.desired.services, name: new}
        desired = Desired(services=services)
        files.save(self.desired_path, desired)  # on disk before anything acts on it
        self.desired = self.supervisor.desired = desired
        self.supervisor.wake.set()
        return True

    def _worker_argv(self, name: str) -> Callable[[str, int], tuple[str, ...]]:
        state_dir = str(self.options.state_dir.resolve())

        def argv(worker_id: str, metrics_port: int) -> tuple[str, ...]:
            module = "safeship.agent.worker"
            return (
                sys.executable,
                "-m",
                module,
                "--state-dir",
                state_dir,
                "--service",
                name,
                "--id",
                worker_id,
                "--metrics-port",
                str(metrics_port),
            )

        return argv

    def _view(self, service: Service) -> ServiceView:
        return ServiceView(
            replicas=tuple(self._unit_view(u) for u in service.replicas),
            workers=tuple(self._unit_view(u, worker=True) for u in service.workers),
            route=service.route,
        )

    def _unit_view(self, unit: Unit, *, worker: bool = False) -> UnitView:
        record = self.supervisor.observed.records.get(unit.id)
        generation = _applied(self.options.state_dir, unit.id) if worker else None
        return UnitView(
            id=unit.id,
            version=unit.version,
            role=unit.role,
            host=unit.host,
            port=unit.port,
            state=record.state if record else "pending",
            pid=record.pid if record else None,
            starts=record.starts if record else 0,
            reason=record.reason if record else "",
            generation=generation,
            target=unit.target,
        )


class MetricsEndpoints:
    """The `router.metricsListen` of each routed service: one exposition merging its
    workers' (agent.exposition), scraped when asked. Follows the desired state (`sync`:
    started, moved, stopped); an address that cannot be bound is retried at the next sync."""

    def __init__(self, agent: Agent) -> None:
        self._agent = agent
        self._servers: dict[str, tuple[str, asyncio.Server]] = {}  # service → address, server
        self._errors: dict[str, int] = {}  # service → worker scrapes failed
        self._refused: set[tuple[str, str]] = set()  # (service, address) already logged
        self._syncing = asyncio.Lock()  # the API's sync and the periodic one, one at a time

    def wanted(self) -> dict[str, str]:
        out: dict[str, str] = {}
        for name, service in self._agent.desired.services.items():
            if service.route is not None and service.route.request.router.metrics_listen:
                out[name] = service.route.request.router.metrics_listen
        return out

    async def sync(self) -> None:
        async with self._syncing:
            await self._sync()

    async def _sync(self) -> None:
        wanted = self.wanted()
        for name, (address, server) in list(self._servers.items()):
            if wanted.get(name) != address:
                server.close()
                del self._servers[name]
        for name, address in wanted.items():
            if name not in self._servers:
                await self._start(name, address)

    async def _start(self, name: str, address: str) -> None:
        host, port = split_host_port(address)

        async def body() -> bytes:
            return await self.exposition(name)

        try:
            server = await start_text_endpoint(body, host=host, port=port)
        except OSError as exc:
            if (name, address) not in self._refused:
                self._refused.add((name, address))
                log.error("%s: router.metricsListen %s cannot listen: %s", name, address, exc)
            return
        self._refused.discard((name, address))
        self._servers[name] = (address, server)

    async def exposition(self, name: str) -> bytes:
        """The merged exposition of `name`'s router workers, as scraped now."""
        workers = self._agent.desired.services.get(name, Service()).workers
        http = self._agent.supervisor.http
        texts = await asyncio.gather(*(fetch_text(http, w.port) for w in workers))
        merged = merge({w.id: text for w, text in zip(workers, texts, strict=True)})
        errors = self._errors[name] = self._errors.get(name, 0) + len(merged.failed)
        return render([*merged.families, scrape_errors(name, errors)])

    async def keep(self, stop: asyncio.Event, every: float = 1.0) -> None:
        """Sync until `stop` (retries refused addresses; follows a reloaded desired state)."""
        while not stop.is_set():
            await self.sync()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), every)

    def close(self) -> None:
        for _, server in self._servers.values():
            server.close()
        self._servers.clear()


def _applied(state_dir: Path, worker_id: str) -> int | None:
    try:
        generation: int = json.loads(applied_path(state_dir, worker_id).read_text())["generation"]
    except (OSError, ValueError, KeyError):
        return None
    return generation


@contextlib.contextmanager
def exclusive(state_dir: Path) -> Iterator[None]:
    """Hold the state dir's lock for the agent's life; a second agent is refused at once."""
    state_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd = os.open(state_dir / "agent.lock", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise DeployError(f"another agent runs on {state_dir} (agent.lock is held)") from None
        yield
    finally:
        os.close(fd)


def unix_listener(path: Path) -> socket.socket:
    """A listening Unix socket only its owner may connect to (mode 0600 from the start)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with contextlib.suppress(FileNotFoundError):
        path.unlink()  # stale from a killed agent; the state-dir lock says none runs now
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    old = os.umask(0o177)
    try:
        sock.bind(str(path))
    finally:
        os.umask(old)
    os.chmod(path, 0o600)
    sock.listen(128)
    return sock


async def _watch_lock(agent: Agent, lock: Path, every: float = 1.0) -> None:
    """Exit with the fleet if the state dir is removed under us (the lock file is gone or
    replaced): nobody could re-adopt these processes, and a new agent would start a second
    fleet beside them."""
    inode = _inode(lock)
    while not agent.stopping.is_set():
        await asyncio.sleep(every)
        if _inode(lock) != inode:
            print(f"safeship agent: {lock} was removed; stopping the fleet", file=sys.stderr)
            agent.shutdown(fleet=True)


def _inode(path: Path) -> int | None:
    try:
        return os.stat(path).st_ino
    except FileNotFoundError:
        return None


async def run_agent(options: AgentOptions, *, ready: asyncio.Event | None = None) -> None:
    """The agent until SIGTERM/SIGINT (see module doc)."""
    from safeship.agent.api import api_server  # FastAPI only where the API is served

    with exclusive(options.state_dir):
        agent = Agent(options)
        await agent.supervisor.adopt()
        stop = agent.stopping
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, stop.set)
        server = api_server(agent, unix_listener(options.socket_path))
        supervising = asyncio.create_task(agent.supervisor.run(stop))
        watching = asyncio.create_task(_watch_lock(agent, options.state_dir / "agent.lock"))
        exposing = asyncio.create_task(agent.endpoints.keep(stop))
        serving = asyncio.create_task(server.serve_until(stop))
        if ready is not None:
            ready.set()
        print(f"safeship agent on {options.socket_path} (pid {os.getpid()})", file=sys.stderr)
        await asyncio.gather(supervising, serving, exposing)
        watching.cancel()
        agent.endpoints.close()
        if agent.stop_fleet:
            await agent.supervisor.stop_all()
        await agent.supervisor.close()
        with contextlib.suppress(FileNotFoundError):
            options.socket_path.unlink()
