"""`safeship proxy`: the embedded router on its own, for trying it out and for benchmarks.

Parses the command line into a `TrafficSplit` (pure, so bad input exits 2 before anything
listens), then runs an `EmbeddedRouter` until SIGINT/SIGTERM, drains and exits 0.
"""

from __future__ import annotations

import asyncio
import signal
import sys
from collections.abc import Callable

import typer
from pydantic import ValidationError

from safeship.config.models import RouterSpec
from safeship.core.addresses import join_host_port, split_host_port, split_http_url
from safeship.core.durations import parse_duration
from safeship.core.errors import SafeshipError, UsageError
from safeship.core.types import Replica, TrafficSplit
from safeship.traffic.proxy.embedded import EmbeddedRouter
from safeship.traffic.proxy.limits import Limits, limits_from_spec
from safeship.traffic.proxy.timeouts import Timeouts


def parse_hostport(text: str, *, option: str) -> tuple[str, int]:
    """`HOST:PORT` or `[V6]:PORT` → (host, port); a UsageError naming `option` otherwise."""
    try:
        return split_host_port(text)
    except ValueError as exc:
        raise UsageError(f"{option}: {exc}") from None


def parse_backends(text: str, *, option: str, version: str) -> tuple[Replica, ...]:
    """Comma-separated http://HOST:PORT URLs → replicas labelled with `version`."""
    urls = [u.strip() for u in text.split(",") if u.strip()]
    if not urls:
        raise UsageError(f"{option}: at least one backend URL is needed")
    return tuple(
        Replica(f"{version}-{i}", version, *_host_port(url, option=option))
        for i, url in enumerate(urls)
    )


def _host_port(url: str, *, option: str) -> tuple[str, int]:
    try:
        return split_http_url(url)
    except ValueError as exc:
        raise UsageError(f"{option}: {exc}") from None


def build_split(
    *, stable: str, canary: str | None, weight: float, versions: tuple[str, str]
) -> TrafficSplit:
    if not 0.0 <= weight <= 100.0:
        raise UsageError(f"--weight {weight}: expected a percentage within 0..100")
    if weight and canary is None:
        raise UsageError("--weight needs --canary backends to send that share to")
    canary_replicas = (
        parse_backends(canary, option="--canary", version=versions[1]) if canary else ()
    )
    return TrafficSplit(
        stable=parse_backends(stable, option="--stable", version=versions[0]),
        canary=canary_replicas,
        canary_weight=weight,
    )


def build_timeouts(
    *, idle: str, header: str, response: str, max_connections: int | None
) -> Timeouts:
    """The router's waits from duration strings ("60s", "500ms"); refused when not > 0."""
    if max_connections is not None and max_connections < 1:
        raise UsageError(f"--max-connections {max_connections}: expected at least 1")
    return Timeouts(
        idle=_positive_duration(idle, option="--idle-timeout"),
        header=_positive_duration(header, option="--header-timeout"),
        response=_positive_duration(response, option="--response-timeout"),
        max_connections=max_connections,
    )


def build_limits(*, sizes: dict[str, int], trusted_proxies: str | None) -> Limits:
    """The router's limits from flags, checked as the rollout spec's `router:` keys are."""
    proxies = [p.strip() for p in (trusted_proxies or "").split(",") if p.strip()]
    try:
        spec = RouterSpec.model_validate({**sizes, "trusted_proxies": proxies})
    except ValidationError as exc:
        first = exc.errors()[0]
        option = "--" + str(first["loc"][0]).replace("_", "-")
        raise UsageError(f"{option}: {first['msg']}") from None
    limits = limits_from_spec(spec)
    if limits.problems():
        raise UsageError("; ".join(limits.problems()))
    return limits


def _positive_duration(text: str, *, option: str) -> float:
    try:
        value = parse_duration(text)
    except ValueError as exc:
        raise UsageError(f"{option} {text!r}: {exc}") from None
    if value <= 0:
        raise UsageError(f"{option} {text!r}: expected a duration above zero, e.g. 30s")
    return value


async def serve(router: EmbeddedRouter, split: TrafficSplit) -> None:
    """Run until SIGINT/SIGTERM, then stop gracefully."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    await router.start()
    await router.apply(split)
    where = join_host_port(router.listen_host, router.port)
    print(f"safeship proxy for {router.service} listening on {where}", file=sys.stderr)
    await stop.wait()
    await router.stop()


def _loop_factory() -> Callable[[], asyncio.AbstractEventLoop]:
    try:
        import uvloop

        return uvloop.new_event_loop
    except ImportError:  # uvloop is a speed-up, not a requirement
        return asyncio.new_event_loop


def register(app: typer.Typer) -> None:
    @app.command()
    def proxy(
        listen: str = typer.Option(..., help="HOST:PORT to accept client requests on."),
        stable: str = typer.Option(..., help="Stable backends: http://HOST:PORT[,...]."),
        canary: str | None = typer.Option(None, help="Canary backends: http://HOST:PORT[,...]."),
        weight: float = typer.Option(0.0, help="Percent of requests sent to the canary."),
        metrics_listen: str | None = typer.Option(None, help="HOST:PORT serving /metrics."),
        service: str = typer.Option("proxy", help="Service label on the router's metrics."),
        stable_version: str = typer.Option("stable", help="Version label of stable backends."),
        canary_version: str = typer.Option("canary", help="Version label of canary backends."),
        idle_timeout: str = typer.Option("60s", help="Close idle keep-alive clients after."),
        header_timeout: str = typer.Option("10s", help="Close clients not sending a request in."),
        response_timeout: str = typer.Option("60s", help="504 when a backend is silent for."),
        max_connections: int | None = typer.Option(
            None, help="Open connections per backend at most (more requests queue)."
        ),
        max_request_line: int = typer.Option(8192, help="Request target bytes (else 414)."),
        max_header_bytes: int = typer.Option(32768, help="Header section bytes (else 431)."),
        max_headers: int = typer.Option(100, help="Header fields (else 431)."),
        max_body_bytes: int = typer.Option(8 * 1024 * 1024, help="Request body (else 413)."),
        max_pipelined: int = typer.Option(16, help="Requests read ahead per connection."),
        max_pipelined_bytes: int = typer.Option(65536, help="Body bytes read ahead per conn."),
        max_buffered_bytes: int = typer.Option(
            32 * 1024 * 1024, help="Request-body bytes held by all connections together."
        ),
        trusted_proxies: str | None = typer.Option(
            None, help="CIDRs whose X-Forwarded-* are kept and appended to (comma-separated)."
        ),
    ) -> None:
        """Run the embedded router standalone until SIGINT/SIGTERM (then drain, exit 0)."""
        try:
            host, port = parse_hostport(listen, option="--listen")
            metrics = (
                parse_hostport(metrics_listen, option="--metrics-listen")
                if metrics_listen
                else None
            )
            versions = (stable_version, canary_version)
            split = build_split(stable=stable, canary=canary, weight=weight, versions=versions)
            timeouts = build_timeouts(
                idle=idle_timeout,
                header=header_timeout,
                response=response_timeout,
                max_connections=max_connections,
            )
            sizes = {
                "max_request_line": max_request_line,
                "max_header_bytes": max_header_bytes,
                "max_headers": max_headers,
                "max_body_bytes": max_body_bytes,
                "max_pipelined": max_pipelined,
                "max_pipelined_bytes": max_pipelined_bytes,
                "max_buffered_bytes": max_buffered_bytes,
            }
            limits = build_limits(sizes=sizes, trusted_proxies=trusted_proxies)
        except UsageError as exc:
            typer.echo(f"error: {exc}", err=True)
            raise typer.Exit(exc.exit_code) from exc
        router = EmbeddedRouter(
            service=service,
            listen_host=host,
            listen_port=port,
            metrics_host=metrics[0] if metrics else "127.0.0.1",
            metrics_port=metrics[1] if metrics else None,
            timeouts=timeouts,
            limits=limits,
        )
        try:
            with asyncio.Runner(loop_factory=_loop_factory()) as runner:
                runner.run(serve(router, split))
        except SafeshipError as exc:
            typer.echo(f"error: {exc}", err=True)
            raise typer.Exit(exc.exit_code) from exc
