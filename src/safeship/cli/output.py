"""What every command shares: exit codes (DESIGN.md §4), output formats, refusing cleanly.

The exit code of an error is the error's own (`SafeshipError.exit_code`, core/errors.py);
commands pass the exception to `refuse` rather than choosing a number.
"""

from __future__ import annotations

import sys
from enum import StrEnum
from pathlib import Path
from typing import NoReturn, TextIO, cast

import typer
from rich.console import Console

from safeship.config.loader import load_rollout_spec
from safeship.config.models import RolloutSpec
from safeship.core.errors import ConfigError, ExitCode, SafeshipError
from safeship.core.secrets import register_env, scrub

__all__ = ["ExitCode", "Format", "fail", "load_spec", "refuse"]


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


def fail(console: Console, message: str, code: int) -> NoReturn:
    """Print a one-line error meant for a person (known secrets masked) and exit with `code`."""
    console.print(f"[red]error[/] {scrub(message)}", highlight=False, soft_wrap=True)
    raise typer.Exit(code)


def refuse(console: Console, exc: SafeshipError) -> NoReturn:
    """Print `exc` for a person and exit with the code its category maps to."""
    fail(console, str(exc), exc.exit_code)


def load_spec(console: Console, path: Path) -> RolloutSpec:
    """The spec in `path`, or every problem printed with file:line:key and exit 2."""
    try:
        spec = load_rollout_spec(path)
        register_env(spec.service.env)  # its secrets are masked in all that leaves from now on
        return spec
    except ConfigError as exc:
        for issue in exc.issues:
            console.print(f"[red]error[/] {issue}", highlight=False, soft_wrap=True)
        raise typer.Exit(exc.exit_code) from exc
