"""`safeship up` / `safeship down`: the agent and the control plane in the background, and
stopping everything they run (wiring/daemons.py). State, pid file and logs live under
`$SAFESHIP_HOME` (default `./.safeship`)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from safeship.cli.output import ExitCode, refuse, say
from safeship.config.loader import load_control_plane
from safeship.core.errors import ConfigError, SafeshipError
from safeship.wiring.agent_stack import AgentHome
from safeship.wiring.daemons import down as stop_everything
from safeship.wiring.daemons import up as start_everything

console = Console()


def register(app: typer.Typer) -> None:
    app.command()(up)
    app.command()(down)


def up(
    config: Annotated[
        Path | None, typer.Option("-c", "--config", help="safeship.yaml (services, scraping...)")
    ] = None,
    listen: Annotated[
        str | None, typer.Option("--listen", help="HOST:PORT of the API (default from config).")
    ] = None,
) -> None:
    """Start this machine's agent and `safeship serve` in the background (idempotent)."""
    try:
        loaded = load_control_plane(config)
    except ConfigError as exc:
        refuse(console, exc)
    home = AgentHome.default()
    try:
        found = asyncio.run(start_everything(home, config=config, listen=listen or loaded.listen))
    except SafeshipError as exc:
        refuse(console, exc)
    verb = "started" if found.serve_started else "already running"
    say(console, f"agent pid {found.agent_pid}; serve pid {found.serve_pid} {verb} on {found.url}")
    say(console, f"logs in {home.logs}; `safeship down` stops everything")
    raise typer.Exit(ExitCode.OK)


def down() -> None:
    """Stop `safeship serve`, then the agent with every replica and router worker."""
    try:
        stopped = asyncio.run(stop_everything(AgentHome.default()))
    except SafeshipError as exc:
        refuse(console, exc)
    serve = f"serve {stopped.serve_pid} stopped" if stopped.serve_pid else "no serve running"
    agent = (
        f"agent {stopped.agent_pid} stopped with its fleet"
        if stopped.agent_pid
        else "no agent running"
    )
    say(console, f"{serve}; {agent}")
