"""`safeship serve`: the control plane (Prometheus-compatible API over scraped series)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from safeship.alerting.defaults import control_plane_groups
from safeship.cli.output import ExitCode, fail, refuse, say
from safeship.config.loader import load_control_plane
from safeship.core.addresses import is_loopback, split_host_port
from safeship.core.clock import SystemClock
from safeship.core.errors import ConfigError, SafeshipError
from safeship.wiring.serve import Tls
from safeship.wiring.serve import serve as run_control_plane

console = Console(stderr=True)


def register(app: typer.Typer) -> None:
    app.command()(serve)


def serve(
    config: Annotated[
        Path | None, typer.Option("-c", "--config", help="safeship.yaml (scrape_configs, metrics)")
    ] = None,
    listen: Annotated[
        str | None, typer.Option("--listen", help="HOST:PORT (default 127.0.0.1:8470)")
    ] = None,
    check: Annotated[
        bool, typer.Option("--check", help="Check the config and its rule files, then exit.")
    ] = False,
    tls_cert: Annotated[
        Path | None, typer.Option("--tls-cert", help="PEM certificate: serve HTTPS.")
    ] = None,
    tls_key: Annotated[Path | None, typer.Option("--tls-key", help="PEM private key.")] = None,
) -> None:
    """Run the control plane: /api/v1 (tokens, roles), PromQL on /prometheus/api/v1, /health/*."""
    if (tls_cert is None) != (tls_key is None):
        fail(console, "--tls-cert and --tls-key go together", ExitCode.INVALID)
    tls = Tls(str(tls_cert), str(tls_key)) if tls_cert and tls_key else None
    try:
        loaded = load_control_plane(config)
        if listen is not None:
            loaded = loaded.model_validate({**loaded.model_dump(by_alias=True), "listen": listen})
        control_plane_groups(loaded)  # every rule file parses before anything starts
    except ConfigError as exc:
        refuse(console, exc)
    if check:
        say(console, f"{config or 'defaults'}: valid")
        raise typer.Exit(ExitCode.OK)
    host, _ = split_host_port(loaded.listen)
    if tls is None and not is_loopback(host):
        console.print(
            f"[yellow]warning[/] serving on {loaded.listen} without TLS: tokens cross the"
            " network in clear text; pass --tls-cert and --tls-key, or listen on 127.0.0.1",
            highlight=False,
        )
    try:
        asyncio.run(run_control_plane(loaded, clock=SystemClock(), tls=tls))
    except SafeshipError as exc:
        refuse(console, exc)
    except OSError as exc:
        fail(console, f"cannot serve on {listen or loaded.listen}: {exc}", ExitCode.UNAVAILABLE)
    except KeyboardInterrupt:
        pass
