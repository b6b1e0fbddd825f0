"""What every command shares: exit codes (DESIGN.md §4), output formats, refusing cleanly."""

from __future__ import annotations

from enum import StrEnum
from typing import NoReturn

import typer
from rich.console import Console

EXIT_OK = 0  # done, promoted
EXIT_FAILED = 1  # rolled back or aborted
EXIT_INVALID = 2  # invalid input; nothing was changed
EXIT_UNAVAILABLE = 3  # could not run: unreachable, internal error


class Format(StrEnum):
    table = "table"
    json = "json"


def fail(console: Console, message: str, code: int) -> NoReturn:
    """Print a one-line error meant for a person and exit with `code`."""
    console.print(f"[red]error[/] {message}", highlight=False, soft_wrap=True)
    raise typer.Exit(code)
