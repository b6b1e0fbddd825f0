"""`safeship agent`: the data plane of this machine, in the foreground (see safeship.agent).

SIGTERM/SIGINT stops the agent only: its replicas and router workers keep serving, and a new
agent on the same state dir re-adopts them. `--stop-fleet-on-exit` stops them too (a later
`safeship down` will do that for everything `safeship up` started).
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import typer

from safeship.agent.backoff import RestartPolicy
from safeship.agent.daemon import AgentOptions, run_agent
from safeship.core.errors import SafeshipError


def register(app: typer.Typer) -> None:
    @app.command()
    def agent(
        state_dir: Path = typer.Option(
            Path(".safeship/agent"), help="Desired and observed state, replica and worker logs."
        ),
        socket: Path = typer.Option(
            Path(".safeship/agent.sock"), help="Unix socket of the local API (mode 0600)."
        ),
        stop_fleet_on_exit: bool = typer.Option(
            False, help="On exit also stop every replica and router worker (default: leave)."
        ),
        start_timeout: float = typer.Option(15.0, help="Seconds a process has to turn healthy."),
        stop_timeout: float = typer.Option(5.0, help="Seconds between SIGTERM and SIGKILL."),
        restart_sec: float = typer.Option(0.2, help="First wait before restarting a crash."),
        restart_max_sec: float = typer.Option(10.0, help="The wait doubles up to this."),
        start_limit_burst: int = typer.Option(5, help="Crashes allowed per interval, then failed."),
        start_limit_interval: float = typer.Option(60.0, help="Seconds the burst is counted in."),
    ) -> None:
        """Run the data-plane agent: supervised replicas and router workers, steered over a
        local API; they outlive it."""
        options = AgentOptions(
            state_dir=state_dir,
            socket_path=socket,
            stop_fleet_on_exit=stop_fleet_on_exit,
            start_timeout=start_timeout,
            stop_timeout=stop_timeout,
            policy=RestartPolicy(
                initial=restart_sec,
                cap=restart_max_sec,
                burst=start_limit_burst,
                interval=start_limit_interval,
            ),
        )
        try:
            asyncio.run(run_agent(options))
        except SafeshipError as exc:
            typer.echo(f"error: {exc}", err=True)
            raise typer.Exit(exc.exit_code) from exc
