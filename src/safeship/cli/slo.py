"""`safeship slo status` and `safeship runbook ALERT`.

`slo status` reads the SLOs of safeship.yaml, asks the control plane's Prometheus API (or a
Prometheus with `--prometheus`) for
each one's error ratio over its window and over the burn-rate windows (the expressions
come from alerting/slo.py, the same that the rules record), and prints availability, the
error budget left (share and time) and the burn rates. `runbook` prints the packaged
runbook of an alert (docs/runbooks/ALERT.md).
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Annotated, Any

import httpx
import typer
from rich.console import Console
from rich.table import Table

from safeship.alerting.defaults import runbook
from safeship.alerting.slo import STATUS_WINDOWS, SloStatus, assess, promql_duration, status_queries
from safeship.cli.metrics import DEFAULT_URL
from safeship.cli.output import ExitCode, Format, fail, refuse, row
from safeship.config.loader import load_control_plane
from safeship.core.durations import format_duration
from safeship.core.errors import ConfigError, NotFound

slo_app = typer.Typer(
    help="Service level objectives: budget left, burn rates.", no_args_is_help=True
)
err = Console(stderr=True)


def register(app: typer.Typer) -> None:
    app.add_typer(slo_app, name="slo")
    app.command("runbook")(runbook_command)


def runbook_command(alert: Annotated[str, typer.Argument(help="Alert name")]) -> None:
    """Print the runbook of a default alert: what it means, how to check, how to fix."""
    try:
        typer.echo(runbook(alert), nl=False)
    except NotFound as exc:
        refuse(err, exc)


@slo_app.command("status")
def status_command(
    config: Annotated[Path, typer.Option("-c", "--config", help="safeship.yaml")] = Path(
        "safeship.yaml"
    ),
    server: Annotated[
        str, typer.Option("--server", envvar="SAFESHIP_SERVER", help="Control plane URL.")
    ] = DEFAULT_URL,
    prometheus: Annotated[
        str | None,
        typer.Option("--prometheus", help="Ask this Prometheus instead (e.g. one keeping 30d)."),
    ] = None,
    output: Annotated[Format, typer.Option("--format", help="table or json.")] = Format.table,
) -> None:
    """Availability over each SLO's window, error budget left, current burn rates."""
    try:
        slos = load_control_plane(config).slos
    except ConfigError as exc:
        refuse(err, exc)
    if not slos:
        fail(err, f"no `slos:` in {config}; see docs/alerting.md", ExitCode.INVALID)
    base = prometheus.rstrip("/") if prometheus else server.rstrip("/") + "/prometheus"
    with httpx.Client(base_url=base, timeout=30.0) as client:
        found = [
            assess(s, {k: _ratio(client, q) for k, q in status_queries(s).items()}) for s in slos
        ]
    if output is Format.json:
        typer.echo(json.dumps([_data(s) for s in found], indent=2))
    else:
        Console().print(_table(found))


def _ratio(client: httpx.Client, expr: str) -> float:
    """The largest value the expression answers now (NaN when it answers nothing)."""
    try:
        answer = client.post("/api/v1/query", data={"query": expr})
        body = answer.json()
    except (httpx.HTTPError, ValueError) as exc:
        fail(
            err,
            f"cannot reach {client.base_url}: {exc}; is `safeship serve` running?",
            ExitCode.UNAVAILABLE,
        )
    if body.get("status") != "success":
        fail(err, f"{body.get('errorType', 'error')}: {body.get('error')}", ExitCode.INVALID)
    values = [float(s["value"][1]) for s in body["data"]["result"]]
    values = [v for v in values if not math.isnan(v)]
    return max(values, default=math.nan)


def _data(status: SloStatus) -> dict[str, Any]:
    def number(value: float) -> float | None:
        return None if math.isnan(value) or math.isinf(value) else value

    return {
        "name": status.name,
        "service": status.service,
        "objective": status.objective,
        "window": promql_duration(status.window_s),
        "availability": number(status.availability),
        "budget_remaining": number(status.budget_remaining),
        "budget_remaining_seconds": number(status.budget_remaining_s),
        "burn_rates": {w: number(v) for w, v in status.burn_rates.items()},
    }


def _table(found: list[SloStatus]) -> Table:
    burns = [f"burn {w}" for w in STATUS_WINDOWS]
    table = Table("SLO", "service", "objective", "availability", "budget left", "time left", *burns)
    for s in found:
        row(
            table,
            s.name,
            s.service,
            f"{s.objective:g}% / {promql_duration(s.window_s)}",
            _pct(s.availability),
            _pct(s.budget_remaining),
            _time(s.budget_remaining_s),
            *(_rate(s.burn_rates[w]) for w in STATUS_WINDOWS),
        )
    return table


def _pct(value: float) -> str:
    return "no data" if math.isnan(value) else f"{value * 100:.3f}%"


def _time(value: float) -> str:
    if math.isnan(value):
        return "no data"
    return format_duration(value) if value >= 0 else f"-{format_duration(-value)}"


def _rate(value: float) -> str:
    return "-" if math.isnan(value) or math.isinf(value) else f"{value:.2f}x"
