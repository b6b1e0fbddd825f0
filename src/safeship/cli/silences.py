"""`safeship silences add|list|expire`: mute alerts that match, for a while, with a reason.

On the state database directly (actor `$USER`, or `--author`), or with `--server` through
/api/v1/silences (actor: the token's name; adding and expiring need an operator token).
Each change is audited. Matchers are Alertmanager's: `--matcher 'severity="page"'`.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Annotated, Any, Protocol

import typer
from rich.console import Console
from rich.table import Table
from sqlalchemy.exc import SQLAlchemyError

from safeship.alerting.silence_book import SilenceBook
from safeship.alerting.silences import Silence
from safeship.cli.output import Format, refuse, row
from safeship.cli.remote import ApiClient, ServerOption, load_token
from safeship.cli.rollouts import DbOption
from safeship.core.durations import parse_duration
from safeship.core.errors import SafeshipError, StoreError, UsageError
from safeship.server.models import SilenceView
from safeship.store.repository import Store

silences_app = typer.Typer(
    help="Silences: alerts matching every matcher are not notified until the silence ends.",
    no_args_is_help=True,
)
console = Console(stderr=True)


def register(app: typer.Typer) -> None:
    app.add_typer(silences_app, name="silences")


class Silences(Protocol):
    def add(
        self, matchers: list[str], *, duration_s: float, comment: str, author: str | None
    ) -> SilenceView: ...

    def list(self) -> list[SilenceView]: ...

    def expire(self, silence_id: str) -> SilenceView: ...


@silences_app.command("add")
def add(
    matcher: Annotated[
        list[str], typer.Option("--matcher", "-m", help='A matcher, e.g. severity="page".')
    ],
    duration: Annotated[str, typer.Option("--duration", help="How long: 2h, 30m, 1d.")],
    comment: Annotated[str, typer.Option("--comment", help="Why (goes to the audit log).")],
    author: Annotated[
        str | None, typer.Option("--author", help="Who (default $USER; the token's name remotely).")
    ] = None,
    db: DbOption = None,
    server: ServerOption = None,
) -> None:
    """Silence alerts matching every --matcher from now for --duration; prints its id."""
    with _silences(db, server) as where:
        try:
            seconds = parse_duration(duration)
        except ValueError as exc:
            raise UsageError(f"--duration: {exc}") from None
        made = where.add(matcher, duration_s=seconds, comment=comment, author=author)
    typer.echo(made.id)


@silences_app.command("list")
def list_command(
    output: Annotated[Format, typer.Option("--format", help="table or json.")] = Format.table,
    db: DbOption = None,
    server: ServerOption = None,
) -> None:
    """Every silence with its state (pending, active, expired)."""
    with _silences(db, server) as where:
        found = where.list()
    if output is Format.json:
        typer.echo(json.dumps([s.model_dump() for s in found], indent=2))
        return
    Console().print(_table(found))


@silences_app.command("expire")
def expire(
    silence_id: Annotated[str, typer.Argument(help="The silence's id (see `silences list`).")],
    db: DbOption = None,
    server: ServerOption = None,
) -> None:
    """End a silence now; its alerts are notified again at their group's next flush."""
    with _silences(db, server) as where:
        done = where.expire(silence_id)
    typer.echo(f"silence {done.id} expired")


@contextmanager
def _silences(db: str | None, server: str | None) -> Iterator[Silences]:
    try:
        if server:
            client = ApiClient(server, load_token())
            try:
                yield ApiSilences(client)
            finally:
                client.close()
        else:
            with Store.open(db) as store:
                yield StoreSilences(store)
    except SafeshipError as exc:
        refuse(console, exc)
    except SQLAlchemyError as exc:
        refuse(console, StoreError(f"the state database failed: {exc}"))


class StoreSilences:
    def __init__(self, store: Store) -> None:
        self.book, self.clock = SilenceBook(store), store.clock
        self.actor = os.environ.get("USER", "cli")

    def add(
        self, matchers: list[str], *, duration_s: float, comment: str, author: str | None
    ) -> SilenceView:
        made = self.book.add(
            matchers, duration_s=duration_s, comment=comment, created_by=author or self.actor
        )
        return SilenceView.of(made, now=self.clock.now())

    def list(self) -> list[SilenceView]:
        now = self.clock.now()
        return [SilenceView.of(s, now=now) for s in self.book.list()]

    def expire(self, silence_id: str) -> SilenceView:
        done: Silence = self.book.expire(silence_id, actor=self.actor)
        return SilenceView.of(done, now=self.clock.now())


class ApiSilences:
    def __init__(self, client: ApiClient) -> None:
        self.client = client

    def add(
        self, matchers: list[str], *, duration_s: float, comment: str, author: str | None
    ) -> SilenceView:
        body: dict[str, Any] = {"matchers": matchers, "duration_s": duration_s, "comment": comment}
        if author:
            body["author"] = author
        return SilenceView.model_validate(self.client.post("/silences", body))

    def list(self) -> list[SilenceView]:
        return [SilenceView.model_validate(s) for s in self.client.get("/silences")]

    def expire(self, silence_id: str) -> SilenceView:
        return SilenceView.model_validate(self.client.delete(f"/silences/{silence_id}"))


def _table(found: list[SilenceView]) -> Table:
    table = Table("id", "state", "matchers", "starts", "ends", "by", "comment", title="silences")
    for s in found:
        row(table, s.id, s.state, ", ".join(s.matchers), _time(s.starts_at), _time(s.ends_at),
            s.created_by, s.comment)  # fmt: skip
    return table


def _time(ts: float) -> str:
    return datetime.fromtimestamp(ts).astimezone().strftime("%Y-%m-%d %H:%M:%S")
