"""`safeship alertmanager check FILE...`: validate Alertmanager configs as `amtool check-config`.

Same verdict as amtool on the same files, and the same summary of what a valid file holds;
an invalid one is reported with file:line:key for every problem, and the command exits 2.
"""

from __future__ import annotations

import typer

from safeship.alerting.am_config_files import Summary, load_alertmanager_config
from safeship.core.errors import ConfigError, ExitCode

alertmanager_app = typer.Typer(
    help="Alertmanager configuration files (routes, receivers, inhibition, time intervals).",
    no_args_is_help=True,
)


def register(app: typer.Typer) -> None:
    app.add_typer(alertmanager_app, name="alertmanager")


@alertmanager_app.command("check")
def check(files: list[str] = typer.Argument(..., help="alertmanager.yml files")) -> None:
    """Validate each file like `amtool check-config`; exit 2 if one is invalid."""
    failed = 0
    for path in files:
        try:
            config = load_alertmanager_config(path)
        except ConfigError as exc:
            typer.echo(f"Checking '{path}'  FAILED:\n{exc}\n", err=True)
            failed += 1
            continue
        typer.echo(f"Checking '{path}'  SUCCESS\n{_found(Summary.of(config))}")
    if failed:
        typer.echo(f"failed to validate {failed} file(s)", err=True)
    raise typer.Exit(ExitCode.INVALID if failed else ExitCode.OK)


def _found(summary: Summary) -> str:
    return (
        "Found:\n"
        " - global config\n"
        f" - route ({summary.routes} routes)\n"
        f" - {summary.inhibit_rules} inhibit rules\n"
        f" - {summary.receivers} receivers\n"
        f" - {summary.templates} templates\n"
        f" - {summary.time_intervals} time intervals\n"
    )
