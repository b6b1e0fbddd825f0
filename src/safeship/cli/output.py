"""What every command shares: exit codes (DESIGN.md §4), output formats, refusing cleanly,
and printing user text safely.

The exit code of an error is the error's own (`SafeshipError.exit_code`, core/errors.py);
commands pass the exception to `refuse` rather than choosing a number. Names, versions,
reasons, regexes and label values come from people; Rich would read `[/]` or `[a-z]` in them
as markup (and crash, or eat them), so every line and table cell that holds such text goes
through `say` or `row`, which never interpret markup.
"""

from __future__ import annotations

import os
import sys
from enum import StrEnum
from pathlib import Path
from typing import NoReturn, TextIO, cast

import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text

from safeship.config.loader import load_rollout_spec
from safeship.config.models import RolloutSpec
from safeship.core.errors import ConfigError, ExitCode, SafeshipError
from safeship.core.secrets import register_env, scrub

__all__ = ["ExitCode", "Format", "fail", "load_spec", "refuse", "row", "say"]

Part = str | tuple[str, str]


class Format(StrEnum):
    """`--format` of every command whose output is data."""

    table = "table"
    json = "json"


class ScrubbingStream:
    """stdout or stderr with every known secret masked in what is written (core/secrets.py):
    whatever a command prints, through Rich or not, passes here."""

    def __init__(self, inner: TextIO) -> None:
        self._inner = inner
        self.encoding = inner.encoding

    def write(self, text: str) -> int:
        self._inner.write(scrub(text))
        return len(text)

    def flush(self) -> None:
        self._inner.flush()

    def isatty(self) -> bool:
        return self._inner.isatty()

    def fileno(self) -> int:
        return self._inner.fileno()


def scrub_output() -> None:
    """From now on, what this process prints to stdout and stderr has its secrets masked."""
    if not isinstance(sys.stdout, ScrubbingStream):
        sys.stdout = cast(TextIO, ScrubbingStream(sys.stdout))
    if not isinstance(sys.stderr, ScrubbingStream):
        sys.stderr = cast(TextIO, ScrubbingStream(sys.stderr))


def say(console: Console, *parts: Part) -> None:
    """Print one line: a str part is shown exactly as it is, a (text, style) part is styled."""
    console.print(Text.assemble(*parts), highlight=False, soft_wrap=True)


def row(table: Table, *cells: str | Text) -> None:
    """Add a table row whose str cells are literal text, never markup."""
    table.add_row(*(cell if isinstance(cell, Text) else Text(cell) for cell in cells))


def fail(console: Console, message: str, code: int) -> NoReturn:
    """Print a one-line error meant for a person (known secrets masked) and exit with `code`."""
    say(console, ("error", "red"), " ", scrub(message))
    raise typer.Exit(code)


def refuse(console: Console, exc: SafeshipError) -> NoReturn:
    """Print `exc` for a person and exit with the code its category maps to."""
    fail(console, str(exc), exc.exit_code)


def load_spec(console: Console, path: Path) -> RolloutSpec:
    """The spec in `path`, or every problem printed with file:line:key and exit 2."""
    try:
        spec = load_rollout_spec(path)
        # its secrets are masked in all that leaves this process from now on
        register_env(spec.service.env, environ=os.environ)
        return spec
    except ConfigError as exc:
        for issue in exc.issues:
            say(console, ("error", "red"), " ", str(issue))
        raise typer.Exit(exc.exit_code) from exc
