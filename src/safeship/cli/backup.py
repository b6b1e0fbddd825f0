"""`safeship backup FILE` and `safeship restore FILE`: thin over store/backup.py.

The audit key is never inside a backup; both commands say where it is, because a restored
audit log verifies only with the key that signed it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from safeship.cli.output import refuse, say
from safeship.core.errors import SafeshipError, UsageError
from safeship.store.audit_key import key_path
from safeship.store.backup import Summary, backup, restore
from safeship.store.engine import default_url

console = Console(highlight=False)
FileArg = Annotated[Path, typer.Argument(help="The backup file.", show_default=False)]
DbOption = Annotated[
    str | None,
    typer.Option("--db", help="State database URL (default $SAFESHIP_DB or ./.safeship/state.db)."),
]


def register(app: typer.Typer) -> None:
    app.command("backup")(backup_command)
    app.command("restore")(restore_command)


def backup_command(
    file: FileArg,
    db: DbOption = None,
    force: Annotated[bool, typer.Option("--force", help="Overwrite FILE if it exists.")] = False,
) -> None:
    """Write a consistent snapshot of the state database to FILE (SQLite: a database file;
    PostgreSQL: gzip JSON lines). The audit key is not included: back it up separately."""
    url = db or default_url()
    try:
        if file.exists() and not force:
            raise UsageError(f"{file} exists: pass --force to overwrite it")
        summary = backup(url, file)
    except SafeshipError as exc:
        refuse(console, exc)
    say(console, f"backed up {_rows(summary)} at schema revision {summary.revision} to {file}")
    say(console, f"the audit key is not in it: back up {key_path(url)} separately")


def restore_command(
    file: FileArg,
    db: DbOption = None,
    force: Annotated[
        bool, typer.Option("--force", help="Replace the contents of a non-empty database.")
    ] = False,
) -> None:
    """Restore FILE into the database (fresh, or any with --force) in one transaction; the
    audit log must verify with the audit key of the backed-up database, else nothing changes."""
    url = db or default_url()
    try:
        summary = restore(file, url, force=force)
    except SafeshipError as exc:
        refuse(console, exc)
    say(console, f"restored {_rows(summary)} from {file}")
    signed = f", {summary.checkpoints} signed checkpoints" if summary.checkpoints else ""
    say(console, f"audit log verified: {summary.audit_entries} entries{signed}")


def _rows(summary: Summary) -> str:
    total = sum(summary.rows.values())
    return f"{total} rows of {len([n for n in summary.rows.values() if n])} tables"
