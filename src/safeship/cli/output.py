"""What every command shares: exit codes (DESIGN.md §4), output formats, refusing cleanly."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import NoReturn

import typer
from rich.console import Console

from safeship.config.loader import load_rollout_spec
from safeship.config.models import RolloutSpec
from safeship.core.errors import ConfigError

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


def load_spec(console: Console, path: Path) -> RolloutSpec:
    """The spec in `path`, or every problem printed with file:line:key and exit 2."""
    try:
        return load_rollout_spec(path)
    except ConfigError as exc:
        for issue in exc.issues:
            console.print(f"[red]error[/] {issue}", highlight=False, soft_wrap=True)
        raise typer.Exit(EXIT_INVALID) from exc
