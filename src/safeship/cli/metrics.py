"""CLI commands over metrics: `safeship rules check|test FILE...` and `safeship query 'EXPR'`.

`rules check` validates Prometheus rule files (like `promtool check rules`); `rules test`
runs promtool-format unit tests in-process against the embedded engine;
`query` asks the control plane's Prometheus-compatible API and prints a table or JSON.
"""

from __future__ import annotations

import json
import time
from typing import Any

import httpx
import typer
from rich.console import Console
from rich.table import Table

from safeship.alerting.rule_files import load_rule_file
from safeship.alerting.rule_tests import report, run_file
from safeship.cli.output import ExitCode, row
from safeship.core.durations import parse_duration
from safeship.core.errors import ConfigError

DEFAULT_URL = "http://127.0.0.1:8470"


def _rules_group(app: typer.Typer) -> typer.Typer:
    """The `rules` group, shared with other command modules that add to it."""
    for group in app.registered_groups:
        if group.name == "rules" and group.typer_instance is not None:
            return group.typer_instance
    rules = typer.Typer(help="Check and unit-test Prometheus rule files.", no_args_is_help=True)
    app.add_typer(rules, name="rules")
    return rules


def rules_check(files: list[str] = typer.Argument(..., help="Prometheus rule files")) -> None:
    """Parse and validate rule files; exit 2 naming file:line:key when one is invalid."""
    malformed = False
    for path in files:
        typer.echo(f"Checking {path}")
        try:
            loaded = load_rule_file(path)
        except ConfigError as exc:
            typer.echo(f"  FAILED:\n{exc}\n", err=True)
            malformed = True
            continue
        typer.echo(f"  SUCCESS: {sum(len(g.rules) for g in loaded.groups)} rules found\n")
    raise typer.Exit(ExitCode.INVALID if malformed else ExitCode.OK)


def rules_test(files: list[str] = typer.Argument(..., help="promtool unit-test files")) -> None:
    """Run rule unit tests in promtool's format; exit 1 on a failure, 2 on a bad file."""
    failed = malformed = False
    for path in files:
        try:
            result = run_file(path)
        except (ConfigError, OSError) as exc:
            typer.echo(f"Unit Testing:  {path}\n  FAILED:\n{exc}", err=True)
            malformed = True
            continue
        typer.echo(report(result) + "\n")
        failed = failed or not result.passed
    raise typer.Exit(ExitCode.INVALID if malformed else ExitCode.FAILED if failed else ExitCode.OK)


def query(
    expr: str = typer.Argument(..., help="PromQL expression"),
    at: str = typer.Option("", "--time", help="evaluation time (unix seconds or RFC 3339)"),
    range_: str = typer.Option("", "--range", help="range query over this past duration"),
    step: str = typer.Option("15s", "--step", help="range query resolution"),
    fmt: str = typer.Option("table", "--format", help="table or json"),
    url: str = typer.Option(DEFAULT_URL, "--url", help="control-plane URL"),
) -> None:
    """Evaluate a PromQL expression on the control plane."""
    params = _params(expr, at=at, range_=range_, step=step)
    path = "/prometheus/api/v1/query_range" if range_ else "/prometheus/api/v1/query"
    try:
        response = httpx.post(url.rstrip("/") + path, data=params, timeout=30.0)
        body = response.json()
    except (httpx.HTTPError, ValueError) as exc:
        typer.echo(f"cannot reach {url}: {exc}; is `safeship serve` running?", err=True)
        raise typer.Exit(ExitCode.UNAVAILABLE) from None
    if body.get("status") != "success":
        typer.echo(
            f"{body.get('errorType', 'error')}: {body.get('error', response.text)}", err=True
        )
        bad = body.get("errorType") == "bad_data"
        raise typer.Exit(ExitCode.INVALID if bad else ExitCode.UNAVAILABLE)
    if fmt == "json":
        typer.echo(json.dumps(body, indent=2))
    else:
        Console().print(result_table(body["data"]))


def _params(expr: str, *, at: str, range_: str, step: str) -> dict[str, str]:
    if not range_:
        return {"query": expr, **({"time": at} if at else {})}
    try:
        end = float(at) if at else time.time()
        start = end - parse_duration(range_)
    except ValueError as exc:
        typer.echo(f"invalid --range or --time: {exc}", err=True)
        raise typer.Exit(ExitCode.INVALID) from None
    return {"query": expr, "start": repr(start), "end": repr(end), "step": step}


def result_table(data: dict[str, Any]) -> Table:
    """A Rich table of a query answer's `data`: one row per sample."""
    table = Table("series", "time", "value")
    kind, result = data["resultType"], data["result"]
    if kind in ("scalar", "string"):
        row(table, "", str(result[0]), str(result[1]))
    for series in result if kind in ("vector", "matrix") else []:
        labels = _braces(series["metric"])
        for t, v in series.get("values") or [series["value"]]:
            row(table, labels, str(t), v)
    return table


def _braces(metric: dict[str, str]) -> str:
    name = metric.get("__name__", "")
    rest = ", ".join(f'{k}="{v}"' for k, v in sorted(metric.items()) if k != "__name__")
    return f"{name}{{{rest}}}" if rest or not name else name


def register(app: typer.Typer) -> None:
    _rules_group(app).command("check")(rules_check)
    _rules_group(app).command("test")(rules_test)
    app.command("query")(query)
