"""`safeship demo`: the embedded sandbox, end to end, in one command."""

from __future__ import annotations

import asyncio
import json
import shutil
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.table import Table

from safeship.cli.output import ExitCode, refuse, row, say
from safeship.cli.progress import RolloutProgress
from safeship.core.errors import SafeshipError
from safeship.store.repository import Store

if TYPE_CHECKING:
    from safeship.demo.scenario import DemoReport
    from safeship.wiring.local_stack import LocalStack

console = Console()
DEMO_DIR = Path(".safeship/demo")


def register(app: typer.Typer) -> None:
    app.command()(demo)


def demo(
    once: Annotated[bool, typer.Option("--once", help="Exit after the summary.")] = False,
    fast: Annotated[bool, typer.Option("--fast", help="Short durations: under 90 s.")] = False,
    port: Annotated[int, typer.Option("--port", help="Router port (0 picks a free one).")] = 8080,
    report: Annotated[
        Path | None, typer.Option("--report", help="Write the summary as JSON.")
    ] = None,
) -> None:
    """v1 on 4 replicas under load; canary v2 (good) is promoted, canary v3 (bad) rolled back."""
    from safeship.demo.scenario import demo_spec, run_demo  # the fleet stack: only to run it

    shutil.rmtree(DEMO_DIR, ignore_errors=True)
    DEMO_DIR.mkdir(parents=True)
    db = f"sqlite:///{DEMO_DIR}/state.db"
    progress = RolloutProgress(console, demo_spec(fast=fast, port=port))

    def on_report(result: DemoReport, stack: LocalStack) -> None:
        _print_summary(result)
        if report:
            report.write_text(json.dumps(result.to_json(), indent=2))
        say(console, f"audit trail: safeship audit list --db {db}")
        if not once:
            say(console, f"the fleet keeps serving on {stack.url}; Ctrl-C to stop")

    try:
        with Store.open(db) as store, progress:
            outcome = asyncio.run(
                run_demo(
                    fast=fast,
                    port=port,
                    store=store,
                    on_plan=progress.update,
                    on_report=on_report,
                    hold=not once,
                )
            )
    except KeyboardInterrupt:
        raise typer.Exit(ExitCode.OK) from None
    except SafeshipError as exc:
        refuse(console, exc)
    raise typer.Exit(ExitCode.OK if outcome.as_expected else ExitCode.FAILED)


def _print_summary(result: DemoReport) -> None:
    table = Table("rollout", "result", "took", "to weight 0", "sent", "bad", "mech", "reason")
    for r in result.rollouts:
        to_zero = f"{r.canary_traffic_to_zero_s:.1f}s" if r.canary_traffic_to_zero_s else "-"
        row(
            table,
            f"{r.from_version} → {r.version}",
            r.result,
            f"{r.duration_s:.1f}s",
            to_zero,
            str(r.requests_sent),
            str(r.failures_bad_version),
            str(r.failures_mechanics),
            r.reason,
        )
    console.print(table)
    data = result.to_json()
    failures = data["failures"]
    console.print(
        f"requests sent {data['requests_sent']}; failures caused by the bad version"
        f" {sum(failures['caused_by_bad_version'].values())}, by deployment mechanics"
        f" {failures['caused_by_deployment_mechanics']}",
        highlight=False,
    )
