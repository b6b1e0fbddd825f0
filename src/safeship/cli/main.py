"""The `safeship` command. Each command module registers itself on the app."""

from __future__ import annotations

import typer

app = typer.Typer(
    name="safeship",
    help="Ship new versions of a service progressively, judge every step, roll back on its own.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
