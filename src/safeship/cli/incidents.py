"""`safeship incidents list|show|ack|escalate|resolve|note`: incidents of a control plane.

Incidents live where alerts are evaluated, in `safeship serve`, so these commands always go
through its API (`--server URL` or $SAFESHIP_SERVER, with a token: viewer to read, operator
to act); the actor of what is audited is the token's name.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from safeship.cli.output import Format, refuse, row, say
from safeship.cli.remote import ApiClient, ServerOption, load_token
from safeship.core.errors import SafeshipError, UsageError
from safeship.core.incidents import Status
from safeship.server.incidents_api import IncidentDetail, IncidentView

incidents_app = typer.Typer(
    help="Incidents: alerts grouped into something a person owns, with a timeline.",
    no_args_is_help=True,
)
console = Console(stderr=True)
IncidentArg = Annotated[str, typer.Argument(help="Incident id (see `safeship incidents list`).")]
MessageOption = Annotated[str, typer.Option("--message", "-m", help="Why, for the timeline.")]


def register(app: typer.Typer) -> None:
    app.add_typer(incidents_app, name="incidents")


@contextmanager
def _api(server: str | None) -> Iterator[ApiClient]:
    try:
        if not server:
            raise UsageError(
                "incidents live in the control plane: pass --server URL or set $SAFESHIP_SERVER"
            )
        client = ApiClient(server, load_token())
        try:
            yield client
        finally:
            client.close()
    except SafeshipError as exc:
        refuse(console, exc)


@incidents_app.command("list")
def list_command(
    status: Annotated[
        Status | None, typer.Option("--status", help="open, acknowledged or resolved.")
    ] = None,
    limit: Annotated[int, typer.Option("--limit", min=1, max=500)] = 50,
    output: Annotated[Format, typer.Option("--format", help="table or json.")] = Format.table,
    server: ServerOption = None,
) -> None:
    """Incidents, newest first."""
    with _api(server) as api:
        found = [
            IncidentView.model_validate(i)
            for i in api.get("/incidents", status=status.value if status else None, limit=limit)
        ]
    if output is Format.json:
        typer.echo(json.dumps([i.model_dump(mode="json") for i in found], indent=2))
        return
    table = Table("id", "status", "severity", "service", "firing", "opened", "title")
    for i in found:
        row(
            table,
            i.id,
            i.status.value,
            i.severity,
            i.service or "",
            str(i.firing),
            _time(i.opened_at),
            i.title,
        )
    Console().print(table)


@incidents_app.command("show")
def show(
    incident: IncidentArg,
    output: Annotated[Format, typer.Option("--format", help="table or json.")] = Format.table,
    server: ServerOption = None,
) -> None:
    """One incident: its state, alerts, actions and timeline."""
    with _api(server) as api:
        detail = IncidentDetail.model_validate(api.get(f"/incidents/{incident}"))
    if output is Format.json:
        typer.echo(detail.model_dump_json(indent=2))
        return
    out = Console()
    say(out, (detail.title, "bold"), f"  {detail.id}  {detail.status.value}  {detail.severity}")
    say(
        out,
        f"owner {detail.owner or '-'}, service {detail.service or '-'},"
        f" opened {_time(detail.opened_at)}",
    )
    for entry in detail.timeline:
        say(out, f"{_time(entry.at)}  ", (entry.kind, "cyan"), f"  {entry.actor}  {entry.message}")


def _act(server: str | None, incident: str, verb: str, message: str) -> None:
    with _api(server) as api:
        found = IncidentView.model_validate(
            api.post(f"/incidents/{incident}/{verb}", {"message": message})
        )
    say(console, f"{found.id}: {found.status.value}")


@incidents_app.command("ack")
def ack(incident: IncidentArg, message: MessageOption = "", server: ServerOption = None) -> None:
    """Acknowledge: you own it now, so it does not escalate on its own."""
    _act(server, incident, "ack", message)


@incidents_app.command("escalate")
def escalate(
    incident: IncidentArg, message: MessageOption = "", server: ServerOption = None
) -> None:
    """Escalate now (to the definition's escalation url, when it has one)."""
    _act(server, incident, "escalate", message)


@incidents_app.command("resolve")
def resolve(
    incident: IncidentArg, message: MessageOption = "", server: ServerOption = None
) -> None:
    """Resolve; a later firing alert opens a new incident."""
    _act(server, incident, "resolve", message)


@incidents_app.command("note")
def note(
    incident: IncidentArg,
    message: Annotated[str, typer.Argument(help="The note.")],
    server: ServerOption = None,
) -> None:
    """Add a note to the timeline."""
    _act(server, incident, "notes", message)


def _time(ts: float) -> str:
    return datetime.fromtimestamp(ts).astimezone().strftime("%Y-%m-%d %H:%M:%S")
