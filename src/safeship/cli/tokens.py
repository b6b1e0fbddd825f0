"""`safeship token create|list|revoke`: who may use the control plane's API, with which role.

On the state database directly (how the first admin token is made, on the control plane's
machine), or with `--server` through the API with an admin token. A token is printed once,
alone on the last line, so `safeship token create ... | tail -1 > file` keeps it; only its
hash is stored.
"""

from __future__ import annotations

import dataclasses
import json
from datetime import datetime
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from safeship.cli.backend import backend
from safeship.cli.output import Format
from safeship.cli.remote import ServerOption
from safeship.cli.rollouts import DbOption
from safeship.store.tokens import Role, TokenRecord

token_app = typer.Typer(
    help=(
        "API tokens: viewer reads, ingest also pushes samples (remote write), operator also"
        " acts on rollouts, admin also manages tokens."
    ),
    no_args_is_help=True,
)
console = Console(stderr=True)


def register(app: typer.Typer) -> None:
    app.add_typer(token_app, name="token")


@token_app.command("create")
def create(
    name: Annotated[str, typer.Option("--name", help="Who uses it: the actor in the audit log.")],
    role: Annotated[
        Role, typer.Option("--role", help="viewer, operator, admin, or ingest (events only).")
    ],
    db: DbOption = None,
    server: ServerOption = None,
) -> None:
    """Make a token; it is shown this once, on the last line, and stored only as a hash."""
    with backend(db, server, console=console) as where:
        record, token = where.create_token(name=name, role=role)
    typer.echo(f"token {record.name} ({record.role}) created; it is shown only now:")
    typer.echo(token)


@token_app.command("list")
def list_command(
    output: Annotated[Format, typer.Option("--format", help="table or json.")] = Format.table,
    db: DbOption = None,
    server: ServerOption = None,
) -> None:
    """Every token's name, role, creation and last use (never the token)."""
    with backend(db, server, console=console) as where:
        found = where.tokens()
    if output is Format.json:
        rows = [{k: v for k, v in dataclasses.asdict(t).items() if k != "id"} for t in found]
        typer.echo(json.dumps(rows, indent=2))
        return
    Console().print(_table(found))


@token_app.command("revoke")
def revoke(
    name: Annotated[str, typer.Argument(help="The token's name (see `safeship token list`).")],
    db: DbOption = None,
    server: ServerOption = None,
) -> None:
    """Revoke a token: it stops working at once."""
    with backend(db, server, console=console) as where:
        record = where.revoke_token(name)
    typer.echo(f"token {record.name} ({record.role}) revoked")


def _table(found: list[TokenRecord]) -> Table:
    table = Table("name", "role", "created", "by", "last used", title="API tokens")
    for t in found:
        used = _local_time(t.last_used_at) if t.last_used_at is not None else "never"
        table.add_row(t.name, t.role.value, _local_time(t.created_at), t.created_by, used)
    return table


def _local_time(ts: float) -> str:
    return datetime.fromtimestamp(ts).astimezone().strftime("%Y-%m-%d %H:%M:%S")
