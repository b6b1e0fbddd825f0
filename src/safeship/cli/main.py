"""The `safeship` command. Each command module registers itself on the app."""

from __future__ import annotations

import logging

import typer

from safeship.cli.output import scrub_output
from safeship.core.secrets import ScrubbingFilter

app = typer.Typer(
    name="safeship",
    help="Ship new versions of a service progressively, judge every step, roll back on its own.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


@app.callback()
def _logging() -> None:
    """Warnings and errors go to stderr; every known secret is masked in all output."""
    scrub_output()
    handler = logging.StreamHandler()
    handler.addFilter(ScrubbingFilter())
    logging.basicConfig(level=logging.WARNING, handlers=[handler], force=True)


# Each command module registers its commands, in the order `safeship --help` lists them.
from safeship.cli import (  # noqa: E402
    agent,
    alertmanager,
    audit,
    backup,
    demo,
    deploy,
    events,
    export,
    gates,
    incidents,
    metrics,
    notifications,
    proxy,
    rollouts,
    serve,
    silences,
    simulate,
    slo,
    tokens,
    up,
)

for _module in (
    audit,
    rollouts,
    demo,
    deploy,
    proxy,
    metrics,
    simulate,
    gates,
    serve,
    agent,
    tokens,
    backup,
    export,
    incidents,
    slo,
    alertmanager,
    silences,
    notifications,
    events,
    deploy,
    up,
):
    _module.register(app)
