"""Pre-deployment checks in the terminal: run them, print a table, refuse a blocked rollout.

Used by `safeship validate` and `safeship run` (cli/rollouts.py) before anything changes.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from safeship.cli.output import ExitCode
from safeship.config.models import RolloutSpec
from safeship.rollout.validation import CheckState, Decision, ValidationReport, run_validation

STYLE = {CheckState.PASSED: "green", CheckState.WARNING: "yellow", CheckState.FAILED: "red"}


def preflight(console: Console, spec: RolloutSpec, *, spec_path: Path) -> ValidationReport:
    """Run the spec's checks and print them; exit 2 (nothing changed) if a critical one failed."""
    if not spec.validation:
        return ValidationReport(())
    report = asyncio.run(run_validation(spec.validation, base_dir=spec_path.parent))
    console.print(table(report))
    if report.decision is Decision.BLOCKED:
        failed = ", ".join(o.name for o in report.with_state(CheckState.FAILED))
        console.print(f"[red]error[/] critical pre-deployment check failed: {failed}")
        raise typer.Exit(ExitCode.INVALID)
    for warned in report.with_state(CheckState.WARNING):
        console.print(f"[yellow]warning[/] non-critical check {warned.name} failed; continuing")
    return report


def table(report: ValidationReport) -> Table:
    rows = Table("check", "kind", "critical", "result", "took", "detail", title="pre-deployment")
    for outcome in report.outcomes:
        style = STYLE[outcome.state]
        rows.add_row(
            outcome.name,
            outcome.kind,
            "yes" if outcome.critical else "no",
            f"[{style}]{outcome.state.value}[/]",
            f"{outcome.result.latency_s:.2f}s",
            outcome.result.detail,
        )
    return rows
