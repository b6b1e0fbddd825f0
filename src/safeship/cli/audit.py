"""`safeship audit list|verify`: read the store's rollouts and audit log, check the hash chain.

Thin over the store, or a control plane's API with `--server` (cli/backend.py): fetch,
render as a Rich table or JSON.
"""

from __future__ import annotations

import dataclasses
import json
import time
from collections.abc import Sequence
from datetime import datetime
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from safeship.cli.backend import backend
from safeship.cli.output import ExitCode, Format, row, say
from safeship.cli.remote import ServerOption
from safeship.core.durations import format_duration
from safeship.store import AuditEntry, RolloutRecord

audit_app = typer.Typer(
    help="The audit log: who did what, when and why, and proof it was not altered.",
    no_args_is_help=True,
)


DbOption = Annotated[
    str | None,
    typer.Option(
        "--db", help="Database URL [default: $SAFESHIP_DB or sqlite:///./.safeship/state.db]"
    ),
]


def register(app: typer.Typer) -> None:
    app.add_typer(audit_app, name="audit")


@audit_app.command("list")
def list_command(
    rollout: Annotated[
        str | None, typer.Option("--rollout", help="Show every action of this rollout.")
    ] = None,
    limit: Annotated[int, typer.Option("--limit", min=1, help="At most this many rows.")] = 50,
    output: Annotated[Format, typer.Option("--format", help="table or json.")] = (Format.table),
    db: DbOption = None,
    server: ServerOption = None,
) -> None:
    """Rollouts, newest first; with --rollout, that rollout and every audited action of it."""
    with backend(db, server, console=Console(stderr=True)) as where:
        if rollout is None:
            _show_rollouts(where.rollouts(limit=limit), output)
            return
        record = where.rollout(rollout)
        entries = where.audit_entries(rollout_id=rollout, limit=limit)
    if record is None and not entries:
        say(Console(stderr=True), f"no rollout {rollout!r}; `safeship audit list` shows them all")
        raise typer.Exit(ExitCode.INVALID)
    _show_rollout(record, entries, output)


@audit_app.command("verify")
def verify_command(db: DbOption = None, server: ServerOption = None) -> None:
    """Recompute the audit hash chain and check its signed checkpoints; exit 1 naming what
    was done (edited, removed or reordered, truncated, rewritten, forged checkpoint)."""
    with backend(db, server, console=Console(stderr=True)) as source:
        result = source.verify_audit()
    console = Console(highlight=False, markup=False)
    if result.ok:
        signed = f", {result.checkpoints} signed checkpoints" if result.checkpoints else ""
        console.print(f"OK: {result.checked} audit entries verified{signed}, the chain is intact")
        if result.rollouts:
            matched = result.rollouts - result.uncovered
            older = f"; {result.uncovered} older than chained states" if result.uncovered else ""
            console.print(f"rollouts: {matched} match what the chain recorded{older}")
        return
    where = f"audit entry {result.broken_id}" if result.broken_id else "audit log"
    console.print(
        f"BROKEN ({result.tampering}): {where}: {result.problem} ({result.checked} entries checked)"
    )
    raise typer.Exit(ExitCode.FAILED)


def _show_rollouts(records: Sequence[RolloutRecord], output: Format) -> None:
    if output is Format.json:
        _print_json({"rollouts": [_as_json(r) for r in records]})
    else:
        Console().print(rollouts_table(records, now=time.time()))


def _show_rollout(
    record: RolloutRecord | None, entries: Sequence[AuditEntry], output: Format
) -> None:
    if output is Format.json:
        _print_json({"rollout": _as_json(record) if record else None, "audit": _jsons(entries)})
        return
    console = Console()
    if record is not None:
        console.print(rollouts_table([record], now=time.time()))
    console.print(entries_table(entries))


def rollouts_table(records: Sequence[RolloutRecord], *, now: float) -> Table:
    """One row per rollout: id, service, from → to, who, started, duration, result, reason."""
    table = Table(title="Rollouts")
    table.add_column("id", no_wrap=True)
    for name in ("service", "from → to", "who", "started", "duration", "result", "reason"):
        table.add_column(name, overflow="fold")
    for r in records:
        versions = f"{r.from_version or '—'} → {r.to_version}"
        when, took = _local_time(r.created_at), format_duration(r.duration(now))
        outcome = r.result or f"running ({r.phase})"
        row(table, r.id, r.service, versions, r.actor, when, took, outcome, r.reason)
    return table


def entries_table(entries: Sequence[AuditEntry]) -> Table:
    """One row per audited action, oldest first."""
    table = Table(title="Audit")
    table.add_column("#", no_wrap=True)
    for name in ("time", "who", "action", "reason", "details"):
        table.add_column(name, overflow="fold")
    for e in entries:
        details = json.dumps(e.details, sort_keys=True) if e.details else ""
        row(table, str(e.id), _local_time(e.ts), e.actor, e.action, e.reason, details)
    return table


def _local_time(ts: float) -> str:
    return datetime.fromtimestamp(ts).astimezone().strftime("%Y-%m-%d %H:%M:%S")


def _as_json(value: RolloutRecord | AuditEntry) -> dict[str, Any]:
    return dataclasses.asdict(value)


def _jsons(values: Sequence[AuditEntry]) -> list[dict[str, Any]]:
    return [_as_json(v) for v in values]


def _print_json(value: Any) -> None:
    typer.echo(json.dumps(value, indent=2, sort_keys=True, default=str))
