"""The Router protocol: which backends serve a service, and what share goes to the canary.

Where it sits: the reconciler `apply`s each plan's `TrafficSplit` to a Router and reads its
counters; `router_for` is the factory the wiring builds one with, from `RouterSpec.kind`:
`embedded` (safeship's own proxy, `traffic/proxy/`) or `none` (`traffic/nop.py`: target
strategies behind a load balancer safeship does not steer).
"""

from __future__ import annotations

from typing import Protocol

from safeship.config.models import RouterSpec
from safeship.core.addresses import split_host_port
from safeship.core.types import TrafficSplit, VersionCounters
from safeship.traffic.nop import NopRouter
from safeship.traffic.proxy.embedded import EmbeddedRouter
from safeship.traffic.proxy.limits import limits_from_spec
from safeship.traffic.proxy.timeouts import Timeouts


class Router(Protocol):
    """A traffic router for one service."""

    async def apply(self, split: TrafficSplit) -> None:
        """Route per `split`. Backends that leave every pool are drained: their in-flight
        requests finish, they get no new ones, and `apply` returns once they are idle."""
        ...

    def current(self) -> TrafficSplit:
        """The split in force now."""
        ...

    def counters(self) -> dict[str, VersionCounters]:
        """Cumulative request counters per backend version, for analysis."""
        ...


def router_for(
    spec: RouterSpec, *, service: str, reuse_port: bool = False
) -> EmbeddedRouter | NopRouter:
    """The router `spec.kind` names, not yet listening (`start()` opens its ports);
    `reuse_port` for one of several processes sharing the listen port (agent workers)."""
    if spec.kind == "none":
        return NopRouter()
    host, port = split_host_port(spec.listen)
    metrics_host, metrics_port = metrics_listen(spec)
    return EmbeddedRouter(
        service=service,
        listen_host=host,
        listen_port=port,
        metrics_host=metrics_host,
        metrics_port=metrics_port,
        drain_timeout=spec.drain_timeout,
        limits=limits_from_spec(spec),
        timeouts=Timeouts(
            idle=spec.idle_timeout,
            header=spec.header_timeout,
            response=spec.response_timeout,
            max_connections=spec.max_connections,
        ),
        reuse_port=reuse_port,
    )


def metrics_listen(spec: RouterSpec) -> tuple[str, int]:
    """Where the embedded router exposes its series: as configured, else a free loopback port."""
    if spec.metrics_listen is None:
        return "127.0.0.1", 0
    return split_host_port(spec.metrics_listen)
