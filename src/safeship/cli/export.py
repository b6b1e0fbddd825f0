"""`safeship export systemd|prometheus-scrape|prometheus-rules|alertmanager|grafana-dashboard`:
ship safeship like a service, and watch it with the tools operators already run.

`systemd` writes two units. `safeship-agent.service` runs the data plane with
`KillMode=process`: stopping or restarting the unit stops the agent only, so the replicas
and router workers it supervises keep serving and the next agent re-adopts them.
`safeship-serve.service` runs the control plane. `prometheus-scrape` prints the scrape job
for safeship's own /metrics, to paste into prometheus.yml. `prometheus-rules` prints the
default rules and the SLO rules of safeship.yaml (alerting/defaults.py), `alertmanager` a
routing config for their severities and `grafana-dashboard` a dashboard over safeship's
metrics (alerting/exports.py).
"""

from __future__ import annotations

import getpass
import json
import shlex
import sys
from pathlib import Path
from typing import Annotated

import typer
import yaml
from rich.console import Console

from safeship.alerting.defaults import default_rules, rules_yaml
from safeship.alerting.exports import alertmanager_config, grafana_dashboard
from safeship.alerting.slo import slo_groups
from safeship.cli.output import ExitCode, fail, say
from safeship.config.loader import load_control_plane
from safeship.core.errors import ConfigError

console = Console()
export_app = typer.Typer(help="Files that run or watch safeship elsewhere.", no_args_is_help=True)

_HARDENING = """\
NoNewPrivileges=yes
PrivateTmp=yes
ProtectSystem=strict
ReadWritePaths={workdir}
"""


def register(app: typer.Typer) -> None:
    app.add_typer(export_app, name="export")


def agent_unit(*, command: list[str], workdir: Path, user: str) -> str:
    """The data-plane unit: only the agent process is stopped with it (KillMode=process)."""
    start = shlex.join([*command, "agent", "--state-dir", str(workdir / ".safeship/agent")])
    return f"""\
[Unit]
Description=safeship agent: replicas and router workers of this machine
After=network-online.target
Wants=network-online.target

[Service]
User={user}
WorkingDirectory={workdir}
ExecStart={start}
Restart=on-failure
RestartSec=1s
# Replicas and router workers run in their own sessions and outlive the agent on purpose.
KillMode=process
{_HARDENING.format(workdir=workdir)}
[Install]
WantedBy=multi-user.target
"""


def serve_unit(*, command: list[str], workdir: Path, user: str, config: Path | None) -> str:
    """The control-plane unit, after the agent and (when local) PostgreSQL."""
    args = [*command, "serve", *(["-c", str(config)] if config else [])]
    return f"""\
[Unit]
Description=safeship control plane: rollouts, scraping, rules, API
After=network-online.target postgresql.service safeship-agent.service
Wants=network-online.target safeship-agent.service

[Service]
User={user}
WorkingDirectory={workdir}
ExecStart={shlex.join(args)}
Restart=on-failure
RestartSec=1s
{_HARDENING.format(workdir=workdir)}
[Install]
WantedBy=multi-user.target
"""


def scrape_job(listen: str) -> str:
    """The prometheus.yml job for safeship's own /metrics."""
    return f"""\
scrape_configs:
  - job_name: safeship
    metrics_path: /metrics
    static_configs:
      - targets: ["{listen}"]
"""


@export_app.command("systemd")
def systemd(
    out: Annotated[Path, typer.Option("--out", help="Folder to write the two .service files to.")],
    workdir: Annotated[
        Path, typer.Option("--workdir", help="Where state (.safeship/) lives.")
    ] = Path("."),
    user: Annotated[str | None, typer.Option("--user", help="[default: you]")] = None,
    config: Annotated[Path | None, typer.Option("-c", "--config", help="safeship.yaml")] = None,
) -> None:
    """Write safeship-agent.service and safeship-serve.service (then: systemctl link/enable)."""
    command = [sys.executable, "-m", "safeship.cli"]
    home, who = workdir.resolve(), user or getpass.getuser()
    units = {
        "safeship-agent.service": agent_unit(command=command, workdir=home, user=who),
        "safeship-serve.service": serve_unit(
            command=command, workdir=home, user=who, config=config.resolve() if config else None
        ),
    }
    out.mkdir(parents=True, exist_ok=True)
    for name, text in units.items():
        (out / name).write_text(text)
        say(console, f"wrote {out / name}")


@export_app.command("prometheus-scrape")
def prometheus_scrape(
    config: Annotated[Path | None, typer.Option("-c", "--config", help="safeship.yaml")] = None,
) -> None:
    """Print the Prometheus scrape job for safeship serve's own metrics."""
    try:
        listen = load_control_plane(config).listen
    except ConfigError as exc:
        fail(console, str(exc), ExitCode.INVALID)
    typer.echo(scrape_job(listen), nl=False)


ConfigOption = Annotated[Path | None, typer.Option("-c", "--config", help="safeship.yaml")]


@export_app.command("prometheus-rules")
def prometheus_rules(config: ConfigOption = None) -> None:
    """Print the default rules and the SLO rules of safeship.yaml as a Prometheus rule file."""
    try:
        plane = load_control_plane(config)
    except ConfigError as exc:
        fail(console, str(exc), ExitCode.INVALID)
    groups = (
        list(default_rules(runbook_url=plane.runbooks_url).groups) if plane.default_rules else []
    )
    groups += slo_groups(plane.slos, runbook_url=plane.runbooks_url)
    typer.echo(rules_yaml(groups), nl=False)


@export_app.command("alertmanager")
def alertmanager(
    pager_url: Annotated[
        str, typer.Option("--pager-url", help="Webhook of the pager (page, critical).")
    ] = "https://pager.example.com/alerts",
    ticket_url: Annotated[
        str, typer.Option("--ticket-url", help="Webhook of the ticket queue (ticket, warning).")
    ] = "https://tickets.example.com/alerts",
) -> None:
    """Print an Alertmanager config routing safeship's alerts by severity."""
    document = alertmanager_config(pager_url=pager_url, ticket_url=ticket_url)
    typer.echo(yaml.safe_dump(document, sort_keys=False), nl=False)


@export_app.command("grafana-dashboard")
def grafana_dashboard_command(
    title: Annotated[str, typer.Option("--title", help="Dashboard title.")] = "safeship",
) -> None:
    """Print a Grafana dashboard (JSON) over safeship's metrics and SLO rules."""
    typer.echo(json.dumps(grafana_dashboard(title=title), indent=2))
