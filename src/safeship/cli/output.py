"""What every command shares: exit codes (DESIGN.md §4), output formats, refusing cleanly.

The exit code of an error is the error's own (`SafeshipError.exit_code`, core/errors.py);
commands pass the exception to `refuse` rather than choosing a number.
"""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import NoReturn

import typer
from rich.console import Console

from safeship.config.loader import load_rollout_spec
from safeship.config.models import RolloutSpec
from safeship.core.errors import ConfigError, ExitCode, SafeshipError

__all__ = ["ExitCode", "Format", "fail", "load_spec", "refuse"]


class Format(StrEnum):
    """`--format` of every command whose output is data."""

    table = "table"
    json = "json"


def fail(console: Console, message: str, code: int) -> NoReturn:
    """Print a one-line error meant for a person and exit with `code`."""
    console.print(f"[red]error[/] {message}", highlight=False, soft_wrap=True)
    raise typer.Exit(code)


def refuse(console: Console, exc: SafeshipError) -> NoReturn:
    """Print `exc` for a person and exit with the code its category maps to."""
    fail(console, str(exc), exc.exit_code)


def load_spec(console: Console, path: Path) -> RolloutSpec:
    """The spec in `path`, or every problem printed with file:line:key and exit 2."""
    try:
        return load_rollout_spec(path)
    except ConfigError as exc:
        for issue in exc.issues:
            console.print(f"[red]error[/] {issue}", highlight=False, soft_wrap=True)
        raise typer.Exit(exc.exit_code) from exc
