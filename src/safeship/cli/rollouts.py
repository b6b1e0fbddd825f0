"""`safeship validate`, `run` and `status`: one rollout steered from this process, no server
needed (the fleet runs in this machine's agent and outlives the run)."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import os
import time
from collections.abc import Iterator
from contextlib import AbstractAsyncContextManager, contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.table import Table

from safeship.cli.backend import backend
from safeship.cli.checks import preflight
from safeship.cli.output import (
    ExitCode,
    Format,
    fail,
    load_spec,
    refuse,
    row,
    say,
)
from safeship.cli.progress import RolloutProgress
from safeship.cli.remote import ServerOption
from safeship.config.models import RolloutSpec
from safeship.core.durations import format_duration
from safeship.core.errors import SafeshipError, StoreError
from safeship.rollout.journal import from_record
from safeship.rollout.state import Phase
from safeship.rollout.steps import describe
from safeship.rollout.strategies import compile_steps, local_targets
from safeship.rollout.tracker import Migration, track
from safeship.store.records import RolloutRecord
from safeship.store.repository import Store

if TYPE_CHECKING:
    from safeship.wiring.run import Stack

DETACHED = 130  # Ctrl-C: the rollout is unfinished, nothing was stopped

console = Console()
SpecPath = Annotated[Path, typer.Argument(help="A rollout spec (YAML).", show_default=False)]
DbOption = Annotated[
    str | None,
    typer.Option("--db", help="State database URL (default $SAFESHIP_DB or ./.safeship/state.db)."),
]


def register(app: typer.Typer) -> None:
    app.command()(validate)
    app.command()(run)
    app.command()(status)


def validate(
    spec: SpecPath,
    checks: Annotated[
        bool,
        typer.Option(
            "--checks",
            help="Also run the spec's `command` checks (they run programs; skipped by default).",
        ),
    ] = False,
) -> None:
    """Check a rollout spec; print every problem with file:line:key. Changes nothing.

    Pre-deployment checks of kind http, diskSpace and configFile run; `command` checks
    run only with --checks.
    """
    loaded = load_spec(console, spec)
    preflight(console, loaded, spec_path=spec, commands=checks)
    steps = len(compile_steps(loaded, local_targets(loaded)))
    strategy = loaded.strategy.name
    say(console, ("✓", "green"), f" {spec}: {loaded.service.name}, {strategy} in {steps} steps")


def run(
    spec: SpecPath,
    version: Annotated[str, typer.Option("--version", "-v", help="The version to roll out.")],
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Print the plan, change nothing.")
    ] = False,
    db: DbOption = None,
) -> None:
    """Roll SERVICE out to VERSION: the agent runs the fleet and router, this process steers.

    When it exits (promoted, rolled back, Ctrl-C) the fleet keeps serving the result; run it
    again to resume an unfinished rollout. `safeship down` stops the fleet.
    """
    loaded = load_spec(console, spec)
    if dry_run:
        _print_steps(loaded, version)
        raise typer.Exit(ExitCode.OK)
    preflight(console, loaded, spec_path=spec)  # before the store or the fleet is touched
    with _open_store(db) as store:
        try:
            final = asyncio.run(_run(loaded, store, version))
        except KeyboardInterrupt:
            say(console, "detached: the fleet keeps serving; run the same command to resume")
            raise typer.Exit(DETACHED) from None
    raise typer.Exit(ExitCode.OK if final is Phase.PROMOTED else ExitCode.FAILED)


async def _run(spec: RolloutSpec, store: Store, version: str) -> Phase:
    from safeship.wiring.run import NothingToDo, run_rollout

    actor = os.environ.get("USER", "cli")
    progress = RolloutProgress(console, spec)
    try:
        async with _stack(spec) as stack:
            if spec.router.kind == "embedded":  # with `none`, clients go elsewhere
                say(console, f"router: http://{spec.router.listen}")
            with progress:
                final = await run_rollout(
                    stack, store, version=version, actor=actor, on_plan=progress.update
                )
    except NothingToDo as exc:
        say(console, str(exc))
        return Phase.PROMOTED
    except SafeshipError as exc:
        refuse(console, exc)
    progress.summary(final)
    return final.phase


def _stack(spec: RolloutSpec) -> AbstractAsyncContextManager[Stack]:
    """The agent's fleet (it outlives this run) behind the embedded router; with router
    `none` (nothing for the agent to route) the fleet still runs in this process."""
    from safeship.wiring.agent_stack import AgentHome, agent_stack
    from safeship.wiring.local_stack import local_stack

    if spec.router.kind != "embedded":
        return local_stack(spec)
    return agent_stack(spec, home=AgentHome.default())


def status(
    rollout: Annotated[str | None, typer.Argument(help="Rollout id (default: the newest).")] = None,
    output: Annotated[Format, typer.Option("--format")] = Format.table,
    detailed: Annotated[
        bool, typer.Option("--detailed", help="Per-target state, progress, velocity, ETA.")
    ] = False,
    db: DbOption = None,
    server: ServerOption = None,
) -> None:
    """Progress of a rollout: phase, step, weight, last verdict (--detailed: the migration)."""
    with backend(db, server, console=console) as where:
        records = [where.rollout(rollout)] if rollout else where.rollouts(limit=10)
        if detailed and records and records[0] is not None and not rollout:
            records = [where.rollout(records[0].id)]  # with its spec, which a listing omits
    found = [r for r in records if r is not None]
    if not found:
        fail(console, f"no rollout {rollout}" if rollout else "no rollouts yet", ExitCode.INVALID)
    if detailed:
        found = found[:1]
    if output is Format.json:
        rows = [
            {**r.status, **({"migration": _migration_json(r)} if detailed else {})} for r in found
        ]
        typer.echo(json.dumps(rows, indent=2))
        return
    console.print(_status_table(found))
    if detailed:
        _print_migration(found[0])


def _status_table(found: list[RolloutRecord]) -> Table:
    table = Table(
        "rollout", "strategy", "from → to", "phase", "step", "weight", "last verdict", "age"
    )
    for record in found:
        st = from_record(record)
        verdict = st.last_judgement.outcome.value if st.last_judgement else "-"
        age = format_duration((st.finished_at or record.updated_at) - st.started_at)
        row(
            table,
            st.rollout_id,
            st.strategy,
            f"{st.stable_version} → {st.canary_version}",
            st.phase.value,
            str(st.step_index),
            f"{st.canary_weight:g}%",
            verdict,
            age,
        )
    return table


def _migration_of(record: RolloutRecord) -> Migration:
    spec = RolloutSpec.model_validate(dict(record.spec))
    names = [t.name for t in local_targets(spec)] if spec.strategy.targets_based else []
    steps = compile_steps(spec, local_targets(spec))
    return track(steps, from_record(record), names, time.time())


def _migration_json(record: RolloutRecord) -> dict[str, object]:
    m = _migration_of(record)
    return {**dataclasses.asdict(m), "targets": {k: v.value for k, v in m.targets.items()}}


def _print_migration(record: RolloutRecord) -> None:
    m = _migration_of(record)
    velocity = f"{m.velocity_per_hour:.1f}/h" if m.velocity_per_hour is not None else "-"
    eta = format_duration(m.eta_seconds) if m.eta_seconds is not None else "-"
    unit = "targets" if m.targets else "% of traffic"
    say(
        console,
        f"progress {m.progress:.0%} ({m.done}/{m.total} {unit}) · stage {m.stage}"
        f" · velocity {velocity} · ETA {eta}",
    )
    if m.targets:
        table = Table("target", "state")
        for name, state in m.targets.items():
            row(table, name, state.value)
        console.print(table)


@contextmanager
def _open_store(url: str | None) -> Iterator[Store]:
    try:
        store = Store.open(url)
    except StoreError as exc:
        refuse(console, exc)
    with store:
        yield store


def _print_steps(spec: RolloutSpec, version: str) -> None:
    stable = spec.service.stable or "the stable version"
    say(console, f"{spec.service.name}: {stable} → {version}, {spec.fleet.replicas} replicas")
    say(console, f"strategy {spec.strategy.name}:")
    for index, step in enumerate(compile_steps(spec, local_targets(spec)), start=1):
        say(console, f"  {index}. {describe(step)}")
