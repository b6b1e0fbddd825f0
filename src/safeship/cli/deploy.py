"""`safeship deploy SERVICE --version V`: start a rollout on the control plane and follow it.

A client of /api/v1 (operator role): `POST /rollouts` records the rollout, the control plane's
reconcilers run it (`safeship serve` with the service in safeship.yaml's `services:`), and
this command prints each change of phase, step and weight until it ends. Ctrl-C detaches:
the rollout goes on without it. Exit 0 promoted, 1 rolled back or aborted, 130 detached.
"""

from __future__ import annotations

import time
from typing import Annotated

import typer
from rich.console import Console

from safeship.cli.output import ExitCode, refuse, say
from safeship.cli.remote import ApiClient, ServerOption, load_token
from safeship.core.errors import SafeshipError
from safeship.server.models import RolloutDetail, RolloutSummary

console = Console()
DEFAULT_SERVER = "http://127.0.0.1:8470"
DETACHED = 130
POLL_S = 1.0


def register(app: typer.Typer) -> None:
    app.command()(deploy)


def deploy(
    service: Annotated[str, typer.Argument(help="A service of safeship.yaml's `services:`.")],
    version: Annotated[str, typer.Option("--version", "-v", help="The version to roll out.")],
    server: ServerOption = None,
    follow: Annotated[
        bool, typer.Option("--follow/--detach", help="Follow the rollout to its end.")
    ] = True,
) -> None:
    """Roll SERVICE out to VERSION on the control plane (default http://127.0.0.1:8470)."""
    try:
        client = ApiClient(server or DEFAULT_SERVER, load_token())
    except SafeshipError as exc:
        refuse(console, exc)
    started: RolloutSummary | None = None
    try:
        body = {"service": service, "version": version}
        started = RolloutSummary.model_validate(client.post("/rollouts", body))
        say(
            console,
            f"rollout {started.id}: {service} {started.from_version} → {started.to_version}"
            f" ({started.strategy})",
        )
        if not follow:
            raise typer.Exit(ExitCode.OK)
        say(console, "following; Ctrl-C detaches (the rollout goes on)")
        final = _follow(client, started.id)
    except SafeshipError as exc:
        refuse(console, exc)
    except KeyboardInterrupt:
        which = started.id if started else "--server ..."
        say(console, f"detached, the rollout goes on: `safeship status {which}` shows it")
        raise typer.Exit(DETACHED) from None
    finally:
        client.close()
    say(console, f"{final.id}: {final.phase} {final.message}".rstrip())
    raise typer.Exit(ExitCode.OK if final.result == "promoted" else ExitCode.FAILED)


def _follow(client: ApiClient, rollout_id: str) -> RolloutDetail:
    """Poll the rollout, printing each change, until it has finished."""
    shown = None
    while True:
        now = RolloutDetail.model_validate(client.get(f"/rollouts/{rollout_id}"))
        line = (now.phase, now.step, now.canary_weight, now.last_verdict)
        if line != shown:
            verdict = f", last verdict {now.last_verdict}" if now.last_verdict else ""
            say(console, f"  {now.phase}: step {now.step}, {now.canary_weight:g}% to new{verdict}")
            shown = line
        if now.finished_at is not None:
            return now
        time.sleep(POLL_S)
