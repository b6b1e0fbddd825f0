"""`safeship notifications list|retry|deliver`: the notification outbox.

`list` and `retry` work on the state database directly or, with `--server`, through the
API (viewer to list, operator to retry). `deliver` runs the delivery worker in the
foreground with the receivers of an Alertmanager config file, until stopped.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
from datetime import datetime
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from safeship.alerting.delivery import DeliverySettings
from safeship.alerting.delivery_policy import RetryPolicy
from safeship.cli.backend import backend
from safeship.cli.output import Format, refuse, row, say
from safeship.cli.remote import ServerOption
from safeship.cli.rollouts import DbOption
from safeship.core.clock import SystemClock
from safeship.core.durations import parse_duration
from safeship.core.errors import SafeshipError, UsageError
from safeship.store.engine import default_url
from safeship.store.outbox import OutboxRow, OutboxStatus
from safeship.wiring.notifications import deliver as run_delivery

notifications_app = typer.Typer(
    help="The notification outbox: what was sent, what waits, what was given up.",
    no_args_is_help=True,
)
console = Console(stderr=True)


def register(app: typer.Typer) -> None:
    app.add_typer(notifications_app, name="notifications")


@notifications_app.command("list")
def list_command(
    status: Annotated[
        OutboxStatus | None, typer.Option("--status", help="pending, delivered or dead.")
    ] = None,
    limit: Annotated[int, typer.Option("--limit", min=1, max=1000)] = 100,
    output: Annotated[Format, typer.Option("--format", help="table or json.")] = Format.table,
    db: DbOption = None,
    server: ServerOption = None,
) -> None:
    """The newest notifications, oldest first: receiver, group, status, attempts, last error."""
    with backend(db, server, console=console) as where:
        found = where.notifications(status=status, limit=limit)
    if output is Format.json:
        shown = [{k: v for k, v in dataclasses.asdict(r).items() if k != "payload"} for r in found]
        typer.echo(json.dumps(shown, indent=2))
        return
    Console().print(_table(found))


@notifications_app.command("retry")
def retry(
    row_id: Annotated[int, typer.Argument(metavar="ID", help="From `notifications list`.")],
    db: DbOption = None,
    server: ServerOption = None,
) -> None:
    """Send a dead letter again, from now, with a fresh count of attempts (audited)."""
    with backend(db, server, console=console) as where:
        found = where.retry_notification(row_id)
    say(console, f"notification {found.id} to {found.receiver} requeued")


@notifications_app.command("deliver")
def deliver(
    config: Annotated[
        Path, typer.Option("-c", "--config", help="Alertmanager config: its `receivers`.")
    ],
    db: DbOption = None,
    external_url: Annotated[
        str, typer.Option("--external-url", help="externalURL of the webhook payload.")
    ] = "",
    max_attempts: Annotated[
        int, typer.Option("--max-attempts", min=0, help="Then dead; 0: no limit.")
    ] = RetryPolicy.max_attempts,
    max_age: Annotated[str, typer.Option("--max-age", help="Then dead.")] = "24h",
    backoff: Annotated[str, typer.Option("--backoff", help="First wait after a failure.")] = "1s",
    max_backoff: Annotated[str, typer.Option("--max-backoff", help="Longest wait.")] = "5m",
    hold: Annotated[
        str, typer.Option("--hold", help="A claimed notification is claimed again after this.")
    ] = "60s",
    keep: Annotated[
        str, typer.Option("--keep", help="Delivered notifications are forgotten after this.")
    ] = "7d",
    metrics_listen: Annotated[
        str | None, typer.Option("--metrics-listen", help="HOST:PORT to serve /metrics on.")
    ] = None,
) -> None:
    """Deliver the outbox to the receivers, retrying, until stopped (Ctrl-C, SIGTERM)."""
    try:
        settings = DeliverySettings(
            policy=RetryPolicy(
                initial_s=_duration("--backoff", backoff),
                max_delay_s=_duration("--max-backoff", max_backoff),
                max_attempts=max_attempts,
                max_age_s=_duration("--max-age", max_age),
            ),
            hold_s=_duration("--hold", hold),
            keep_s=_duration("--keep", keep),
        )
        asyncio.run(
            run_delivery(
                config,
                db_url=db or default_url(),
                clock=SystemClock(),
                settings=settings,
                external_url=external_url,
                metrics_listen=metrics_listen,
            )
        )
    except SafeshipError as exc:
        refuse(console, exc)
    except KeyboardInterrupt:
        pass


def _duration(option: str, text: str) -> float:
    try:
        seconds = parse_duration(text)
    except ValueError as exc:
        raise UsageError(f"{option} {text!r}: {exc}") from None
    if seconds <= 0:
        raise UsageError(f"{option} must be more than 0, found {text!r}")
    return seconds


def _table(found: list[OutboxRow]) -> Table:
    table = Table(
        "id", "created", "receiver", "integration", "group", "seq", "status", "attempts", "error"
    )
    table.title = "notifications"
    for r in found:
        row(
            table,
            str(r.id),
            _local_time(r.created_at),
            r.receiver,
            r.integration,
            r.group_key,
            str(r.sequence),
            r.status.value,
            str(r.attempts),
            r.last_error or "",
        )
    return table


def _local_time(ts: float) -> str:
    return datetime.fromtimestamp(ts).astimezone().strftime("%Y-%m-%d %H:%M:%S")
