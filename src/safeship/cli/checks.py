"""Pre-deployment checks in the terminal: run them, print a table, refuse a blocked rollout.

Used by `safeship validate` and `safeship run` (cli/rollouts.py) before anything changes.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text

from safeship.cli.output import ExitCode, row, say
from safeship.config.models import RolloutSpec
from safeship.rollout.validation import CheckState, Decision, ValidationReport, run_validation

STYLE = {CheckState.PASSED: "green", CheckState.WARNING: "yellow", CheckState.FAILED: "red"}


def preflight(
    console: Console, spec: RolloutSpec, *, spec_path: Path, commands: bool = True
) -> ValidationReport:
    """Run the spec's checks and print them; exit 2 (nothing changed) if a critical one failed.

    With `commands=False` (`safeship validate` without --checks) the `command` checks are
    skipped and named: validating a spec someone sent must not run the programs it lists.
    """
    checks = [c for c in spec.validation if commands or c.kind != "command"]
    skipped = [c.name for c in spec.validation if not commands and c.kind == "command"]
    if skipped:
        say(console, f"skipped command checks {', '.join(skipped)}; --checks runs them")
    if not checks:
        return ValidationReport(())
    report = asyncio.run(run_validation(checks, base_dir=spec_path.parent))
    console.print(table(report))
    if report.decision is Decision.BLOCKED:
        failed = ", ".join(o.name for o in report.with_state(CheckState.FAILED))
        say(console, ("error", "red"), f" critical pre-deployment check failed: {failed}")
        raise typer.Exit(ExitCode.INVALID)
    for warned in report.with_state(CheckState.WARNING):
        say(console, ("warning", "yellow"), f" non-critical check {warned.name} failed; continuing")
    return report


def table(report: ValidationReport) -> Table:
    rows = Table("check", "kind", "critical", "result", "took", "detail", title="pre-deployment")
    for outcome in report.outcomes:
        style = STYLE[outcome.state]
        row(
            rows,
            outcome.name,
            outcome.kind,
            "yes" if outcome.critical else "no",
            Text(outcome.state.value, style=style),
            f"{outcome.result.latency_s:.2f}s",
            outcome.result.detail,
        )
    return rows
