"""`safeship simulate`: fly a rollout spec on the simulated fleet in virtual time and print it.

Thin over wiring/simulate.py: parse the options, run the flight, render the timeline,
the checks and the verdict as a table or JSON. Exit 0 when the rollout would be promoted,
1 when it would roll back or pause for a person, 2 for invalid input.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from safeship.cli.output import ExitCode, Format, fail, load_spec, row, say
from safeship.config.models import RolloutSpec
from safeship.core.durations import format_duration, parse_duration
from safeship.fleet.simulated import FleetModel
from safeship.wiring.faults import FaultError, behaviours_from_spec, parse_faults
from safeship.wiring.simulate import Flight, simulate

console = Console()
STYLE = {"pass": "green", "roll back": "red", "pause": "yellow"}
FAULT_HELP = (
    "A fault or condition, repeatable: version=V,error-ratio=0.1[,latency-ms=200][,start-fail=1]"
    " ·"
    " target-fail=0.01 · metrics-down[,from=5m][,for=2m] · deploy-time=30s[,deploy-jitter=5s]"
    " · rate=200 (requests/s)"
)


def register(app: typer.Typer) -> None:
    app.command(name="simulate")(simulate_command)


def simulate_command(
    spec: Annotated[Path, typer.Argument(help="A rollout spec (YAML).", show_default=False)],
    targets: Annotated[
        int | None, typer.Option("--targets", "-n", min=1, help="Fleet size (default: the spec's).")
    ] = None,
    version: Annotated[str, typer.Option("--version", "-v", help="Version to roll out.")] = "next",
    fault: Annotated[list[str] | None, typer.Option("--fault", help=FAULT_HELP)] = None,
    seed: Annotated[int, typer.Option("--seed", help="Same seed, same flight.")] = 0,
    max_duration: Annotated[
        str, typer.Option("--max-duration", help="Virtual time limit, e.g. 24h.")
    ] = "24h",
    output: Annotated[Format, typer.Option("--format")] = Format.table,
) -> None:
    """Fly ROLLOUT.yaml on a simulated fleet with a virtual clock; nothing real is touched."""
    loaded = load_spec(console, spec)
    size = targets or loaded.fleet.replicas
    model = _model(loaded, fault or [], rate=max(100.0, float(size)))
    limit = _duration(max_duration)
    flight = asyncio.run(
        simulate(
            loaded,
            version=version,
            targets=size,
            model=model,
            seed=seed,
            max_duration=limit,
        )
    )
    if output is Format.json:
        typer.echo(json.dumps(flight.to_dict(), indent=2))
    else:
        render(console, flight)
    raise typer.Exit(ExitCode.OK if flight.verdict == "pass" else ExitCode.FAILED)


def render(out: Console, flight: Flight) -> None:
    timeline = Table(
        "virtual time", "event", title=f"{flight.service}: {flight.stable} → {flight.version}"
    )
    for entry in flight.timeline:
        row(timeline, _clock(entry.at), entry.text)
    out.print(timeline)
    if flight.checks:
        checks = Table("virtual time", "step", "outcome", "reason", title="checks")
        for check in flight.checks:
            row(checks, _clock(check.at), str(check.step), check.outcome, check.reason)
        out.print(checks)
    style = STYLE.get(flight.verdict, "white")
    say(
        out,
        (flight.verdict, style),
        f" ({flight.phase}) after {format_duration(flight.duration_s)}"
        f" of virtual time over {flight.targets} targets: {flight.reason}",
    )
    say(
        out,
        (
            f"{flight.ticks} ticks, {flight.deploys} deploys ({flight.deploy_failures} failed),"
            f" seed {flight.seed}, {flight.wall_s:.2f}s wall",
            "dim",
        ),
    )


def _clock(seconds: float) -> str:
    whole = int(seconds)
    return f"+{whole // 3600}:{whole // 60 % 60:02d}:{whole % 60:02d}.{int(seconds * 10) % 10}"


def _model(spec: RolloutSpec, faults: list[str], *, rate: float) -> FleetModel:
    """The default world: 1 request/s per target (at least 100/s), bad versions as in the spec."""
    base = FleetModel(request_rate=rate, behaviours=behaviours_from_spec(spec))
    try:
        return parse_faults(faults, base)
    except FaultError as exc:
        fail(console, str(exc), ExitCode.INVALID)


def _duration(text: str) -> float:
    try:
        return parse_duration(text)
    except ValueError as exc:
        fail(console, f"--max-duration: {exc}", ExitCode.INVALID)
