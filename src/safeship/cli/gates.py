"""Manual gates: `safeship pause|resume|promote|abort|rollback|retry ROLLOUT`.

`safeship run` is another process, so a gate travels through the store: the command writes
a request and its audit entry in one transaction (`rollout.commands.request`), directly or,
with `--server`, through the control plane's API; the controller running the rollout sees it
within a fraction of a second and its pure planner applies it (rollout/gates.py). `retry`
starts a finished, failed rollout again, in this process, from the spec it was run with.
"""

from __future__ import annotations

import asyncio
import os
from enum import StrEnum
from typing import Annotated, Any

import typer
from pydantic import ValidationError
from rich.console import Console

from safeship.cli.backend import backend
from safeship.cli.output import ExitCode, fail, refuse, say
from safeship.cli.remote import ServerOption
from safeship.cli.rollouts import DbOption, _open_store, _run
from safeship.config.models import RolloutSpec
from safeship.core.errors import SafeshipError
from safeship.core.secrets import MASK, register_env
from safeship.rollout.commands import retryable
from safeship.rollout.state import Phase, RequestKind
from safeship.store.records import RolloutRecord

console = Console()
RolloutArg = Annotated[str, typer.Argument(help="Rollout id (see `safeship status`).")]
ReasonOption = Annotated[str, typer.Option("--reason", help="Why, for the audit log.")]


class RollbackStrategy(StrEnum):
    fast = "fast"
    gradual = "gradual"


def register(app: typer.Typer) -> None:
    for command in (pause, resume, promote, abort, rollback, retry):
        app.command()(command)


def pause(
    rollout: RolloutArg, reason: ReasonOption = "", db: DbOption = None, server: ServerOption = None
) -> None:
    """Hold the rollout where it is (traffic and targets stay as they are)."""
    _request(db, server, rollout, "pause", reason=reason)


def resume(
    rollout: RolloutArg, reason: ReasonOption = "", db: DbOption = None, server: ServerOption = None
) -> None:
    """Continue a paused rollout (past an open `pause: {}` step too)."""
    _request(db, server, rollout, "resume", reason=reason)


def promote(
    rollout: RolloutArg,
    full: Annotated[bool, typer.Option("--full", help="Skip every remaining step.")] = False,
    reason: ReasonOption = "",
    db: DbOption = None,
    server: ServerOption = None,
) -> None:
    """Move past the current step, or with --full straight to the new version everywhere."""
    _request(db, server, rollout, "promote", reason=reason, options={"full": full})


def abort(
    rollout: RolloutArg, reason: ReasonOption = "", db: DbOption = None, server: ServerOption = None
) -> None:
    """Stop the rollout and roll it back at once; it ends as aborted."""
    _request(db, server, rollout, "abort", reason=reason)


def rollback(
    rollout: RolloutArg,
    strategy: Annotated[
        RollbackStrategy, typer.Option("--strategy", help="fast: at once; gradual: in waves.")
    ] = RollbackStrategy.fast,
    reason: ReasonOption = "",
    db: DbOption = None,
    server: ServerOption = None,
) -> None:
    """Roll back: fast (everything at once) or gradual (in waves, stopping if cleared)."""
    _request(db, server, rollout, "rollback", reason=reason, options={"mode": strategy.value})


def _request(
    db: str | None,
    server: str | None,
    rollout: str,
    kind: RequestKind,
    *,
    reason: str,
    options: dict[str, Any] | None = None,
) -> None:
    with backend(db, server, console=console) as where:
        where.request(rollout, kind, reason=reason, options=options or {})
    say(console, f"{kind} requested for {rollout}; its controller acts on it within a second")


def retry(rollout: RolloutArg, db: DbOption = None) -> None:
    """Run an aborted or rolled-back rollout again (same spec, same version), in-process."""
    with _open_store(db) as store:
        try:
            record = retryable(store.get_rollout(rollout), rollout)
        except SafeshipError as exc:
            refuse(console, exc)
        spec = _stored_spec(record)
        store.audit(
            actor=os.environ.get("USER", "cli"),
            action="retry rollout",
            rollout_id=rollout,
            service=record.service,
        )
        final = asyncio.run(_run(spec, store, record.to_version))
    raise typer.Exit(ExitCode.OK if final is Phase.PROMOTED else ExitCode.FAILED)


def _stored_spec(record: RolloutRecord) -> RolloutSpec:
    try:
        spec = RolloutSpec.model_validate(dict(record.spec))
    except ValidationError as exc:
        fail(console, f"the stored spec of {record.id} no longer loads: {exc}", ExitCode.INVALID)
    masked = sorted(k for k, v in spec.service.env.items() if v == MASK)
    if masked:  # secrets are never stored: only references (${NAME}) survive in the store
        fail(
            console,
            f"the stored spec of {record.id} held secret values that were not stored "
            f"({', '.join(masked)}); write them as ${{NAME}} references, or run the spec "
            "file again with `safeship run`",
            ExitCode.INVALID,
        )
    register_env(spec.service.env, environ=os.environ)
    return spec
