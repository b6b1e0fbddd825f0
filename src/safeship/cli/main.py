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


from safeship.cli import audit  # noqa: E402

audit.register(app)

from safeship.cli import rollouts  # noqa: E402

rollouts.register(app)

from safeship.cli import demo  # noqa: E402

demo.register(app)

from safeship.cli import proxy  # noqa: E402

proxy.register(app)

from safeship.cli import metrics  # noqa: E402

metrics.register(app)

from safeship.cli import simulate  # noqa: E402

simulate.register(app)

from safeship.cli import gates  # noqa: E402

gates.register(app)

from safeship.cli import serve  # noqa: E402

serve.register(app)

from safeship.cli import agent  # noqa: E402

agent.register(app)
from safeship.cli import tokens  # noqa: E402

tokens.register(app)

from safeship.cli import backup  # noqa: E402

backup.register(app)

from safeship.cli import export  # noqa: E402

export.register(app)

from safeship.cli import events  # noqa: E402

events.register(app)
