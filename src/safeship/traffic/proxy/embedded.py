"""The embedded router: safeship's own HTTP/1.1 reverse proxy, a `Router` for one service.

Where it sits: the rollout engine `apply`s a `TrafficSplit` (stable, canary and optional
fresh-baseline replicas, and the shares); every client request then goes to one backend per
that split (`traffic.frontend`), and the counters it keeps per (version, pool) feed canary
analysis through `counters()` and the metric store through the Prometheus collector.

Limits, on purpose: request bodies are buffered (8 MiB by default, see `Limits`) so a failed
try can be resent; response bodies stream through and response heads are relayed but for
connection headers (so backend headers such as X-Version reach the client untouched); 1xx
interim responses are relayed (103) or dropped (100); CONNECT and upgrades are refused (501).
"""

from __future__ import annotations

import asyncio
import logging

from prometheus_client import CollectorRegistry

from safeship.core.addresses import join_host_port
from safeship.core.errors import DeployError
from safeship.core.types import Replica, TrafficSplit, VersionCounters
from safeship.traffic.proxy.exposition import start_exposition
from safeship.traffic.proxy.frontend import ClientConnection, Frontend
from safeship.traffic.proxy.limits import Limits
from safeship.traffic.proxy.pools import Balancer, diff, split_keys, validate_split
from safeship.traffic.proxy.stats import RouterCollector, RouterStats
from safeship.traffic.proxy.timeouts import Timeouts
from safeship.traffic.proxy.upstream import Backend

log = logging.getLogger(__name__)


class EmbeddedRouter:
    """Routes one service's traffic between stable, canary and (optional) baseline pools."""

    def __init__(
        self,
        *,
        service: str,
        listen_host: str = "127.0.0.1",
        listen_port: int,
        registry: CollectorRegistry | None = None,
        metrics_host: str = "127.0.0.1",
        metrics_port: int | None = None,
        drain_timeout: float = 30.0,
        connect_timeout: float = 2.0,
        timeouts: Timeouts | None = None,
        limits: Limits | None = None,
        reuse_port: bool = False,
    ) -> None:
        """`timeouts` (client idle and header, backend response, connections per backend)
        overrides `connect_timeout` when given; see `traffic.frontend` for what each means.
        `limits` (request sizes, pipelining, trusted proxies) default to nginx-like ones.
        `reuse_port` (SO_REUSEPORT) lets several router processes share one listen port,
        as the agent's router workers do; the kernel spreads connections between them."""
        self.service = service
        self.registry = registry if registry is not None else CollectorRegistry()
        self._stats = RouterStats(service)
        self.registry.register(RouterCollector(self._stats))
        self.listen_host = listen_host
        self._listen = (listen_host, listen_port)
        self._metrics_listen = (metrics_host, metrics_port)
        self._drain_timeout = drain_timeout
        self._reuse_port = reuse_port
        timeouts = timeouts or Timeouts(connect=connect_timeout)
        if timeouts.problems():
            raise DeployError(f"router for {service}: " + "; ".join(timeouts.problems()))
        limits = limits or Limits()
        if limits.problems():
            raise DeployError(f"router for {service}: " + "; ".join(limits.problems()))
        self._frontend = Frontend(stats=self._stats, timeouts=timeouts, limits=limits)
        self._backends: dict[tuple[str, int], Backend] = {}
        self._split = TrafficSplit(stable=())
        self._apply_lock = asyncio.Lock()
        self._server: asyncio.Server | None = None
        self._metrics_server: asyncio.Server | None = None

    @property
    def port(self) -> int:
        """The port actually listened on (useful with listen_port=0)."""
        return _bound_port(self._server, "router")

    @property
    def metrics_port(self) -> int:
        return _bound_port(self._metrics_server, "metrics endpoint")

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        host, port = self._listen
        frontend = self._frontend
        try:
            self._server = await loop.create_server(
                lambda: ClientConnection(frontend),
                host,
                port,
                backlog=2048,
                reuse_address=True,
                reuse_port=self._reuse_port or None,
            )
            metrics_host, metrics_port = self._metrics_listen
            if metrics_port is not None:
                self._metrics_server = await start_exposition(
                    self.registry, host=metrics_host, port=metrics_port
                )
        except OSError as exc:
            await self.stop()
            raise DeployError(f"router for {self.service} cannot listen: {exc}") from exc

    async def stop(self) -> None:
        """Stop accepting, let in-flight requests finish (bounded by the drain timeout)."""
        frontend = self._frontend
        frontend.closing = True
        for server in (self._server, self._metrics_server):
            if server is not None:
                server.close()
        for connection in list(frontend.connections):
            connection.shutdown()
        try:
            async with asyncio.timeout(self._drain_timeout):
                await frontend.all_closed()
        except TimeoutError:
            log.warning("stop: connections still busy after %ss, cutting them", self._drain_timeout)
        for connection in list(frontend.connections):
            if connection.transport is not None:
                connection.transport.abort()
        for backend in self._backends.values():
            backend.abort_all()
        for task in list(frontend.tasks):
            task.cancel()

    async def apply(self, split: TrafficSplit) -> None:
        """Route per `split`; returns once backends that left every pool are drained."""
        problems = validate_split(split)
        if problems:
            raise DeployError(f"router for {self.service}: " + "; ".join(problems))
        async with self._apply_lock:
            leaving = self._install(split)
            await self._drain(leaving)

    def current(self) -> TrafficSplit:
        return self._split

    def counters(self) -> dict[str, VersionCounters]:
        """Per version, summed over pools; the version "none" holds 503s made with no backend."""
        return self._stats.by_version()

    def _install(self, split: TrafficSplit) -> list[Backend]:
        """Swap the routing table in one step; return the backends that must now drain."""
        if split == self._split:
            return []
        change = diff(self._backends, split_keys(split))
        stable = [self._backend(replica, pool="stable") for replica in split.stable]
        canary = [self._backend(replica, pool="canary") for replica in split.canary]
        baseline = [self._backend(replica, pool="baseline") for replica in split.baseline]
        self._frontend.balancer = Balancer(
            stable=stable,
            canary=canary,
            weight=split.canary_weight,
            baseline=baseline,
            baseline_weight=split.baseline_weight,
        )
        leaving = [self._backends.pop(key) for key in change.removed]
        for backend in leaving:
            backend.draining = True  # no new requests; its pooled connections are closed
            backend.close_idle()
        self._split = split
        return leaving

    def _backend(self, replica: Replica, *, pool: str) -> Backend:
        stats = self._stats.for_(version=replica.version, pool=pool)
        backend = self._backends.get((replica.host, replica.port))
        if backend is None:
            backend = Backend(replica, pool=pool, stats=stats)
            self._backends[(replica.host, replica.port)] = backend
        else:  # same address: keep its pooled connections, update what it is
            backend.replica, backend.pool, backend.stats = replica, pool, stats
        return backend

    async def _drain(self, leaving: list[Backend]) -> None:
        if not leaving:
            return
        try:
            async with asyncio.timeout(self._drain_timeout):
                await asyncio.gather(*(backend.quiet() for backend in leaving))
        except TimeoutError:
            names = ", ".join(join_host_port(b.host, b.port) for b in leaving if b.in_flight)
            log.warning(
                "drain timeout after %ss, cutting requests to %s", self._drain_timeout, names
            )
        for backend in leaving:
            backend.abort_all()


def _bound_port(server: asyncio.Server | None, what: str) -> int:
    if server is None or not server.sockets:
        raise DeployError(f"the {what} is not listening; call start() first")
    port: int = server.sockets[0].getsockname()[1]
    return port
