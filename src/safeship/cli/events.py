"""`safeship events send|tail|stats` and `safeship sla`: service events through a control plane.

Thin clients of /api/v1/analytics (server/analytics_api.py) with the usual `--server` and
token (cli/remote.py): `send` posts a file of NDJSON or a JSON array (or stdin with `-`) in
gzipped batches of at most `--batch` events, and says how many were counted, duplicates,
late and malformed; `tail` follows the newest 1m windows; `stats` shows ingest rate, lag,
drops and dead letters; `sla` a service's availability over a range.
"""

from __future__ import annotations

import gzip
import json
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any

import orjson
import typer
from rich.console import Console
from rich.table import Table

from safeship.cli.output import Format, refuse, row
from safeship.cli.remote import ApiClient, load_token
from safeship.core.errors import InvalidInput, SafeshipError

DEFAULT_SERVER = "http://127.0.0.1:8470"
Server = Annotated[
    str,
    typer.Option("--server", envvar="SAFESHIP_SERVER", help="Control plane URL."),
]
FormatOption = Annotated[Format, typer.Option("--format", help="table or json.")]

events_app = typer.Typer(help="Service events: send, follow their windows, pipeline stats.")
console = Console(stderr=True)


def register(app: typer.Typer) -> None:
    app.add_typer(events_app, name="events")
    app.command("sla")(sla)


def _client(server: str) -> ApiClient:
    return ApiClient(server, load_token(), timeout=60.0)


def _lines(source: str) -> Iterator[bytes]:
    """Events from a file or stdin: NDJSON, or one JSON array (then re-split into lines)."""
    raw = sys.stdin.buffer.read() if source == "-" else _read(Path(source))
    if raw.lstrip().startswith(b"["):
        try:
            yield from (orjson.dumps(e) for e in orjson.loads(raw))
        except orjson.JSONDecodeError as exc:
            raise InvalidInput(f"{source}: expected a JSON array or NDJSON: {exc}") from None
        return
    yield from (line for line in raw.splitlines() if line.strip())


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise InvalidInput(f"cannot read {path}: {exc.strerror}") from None


def _batches(lines: Iterator[bytes], size: int) -> Iterator[list[bytes]]:
    batch: list[bytes] = []
    for line in lines:
        batch.append(line)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


@events_app.command("send")
def send(
    source: Annotated[str, typer.Argument(help="NDJSON or JSON array file, or - for stdin.")],
    stream: Annotated[str | None, typer.Option("--stream", help="HTTP stream name.")] = None,
    batch: Annotated[int, typer.Option("--batch", min=1, help="Events per request.")] = 10_000,
    server: Server = DEFAULT_SERVER,
) -> None:
    """Send events; exits 0 once every batch is durably counted by the server."""
    totals: dict[str, int] = {}
    try:
        client = _client(server)
        try:
            for part in _batches(_lines(source), batch):
                body = gzip.compress(b"\n".join(part), compresslevel=1)
                path = "/analytics/events" + (f"?stream={stream}" if stream else "")
                headers = {"Content-Encoding": "gzip", "Content-Type": "application/x-ndjson"}
                answer = client.post_bytes(path, body, headers=headers)
                for key, value in answer.items():
                    if isinstance(value, int):
                        totals[key] = totals.get(key, 0) + value
        finally:
            client.close()
    except SafeshipError as exc:
        refuse(console, exc)
    typer.echo(", ".join(f"{k} {v}" for k, v in totals.items()) or "no events")


@events_app.command("stats")
def stats(server: Server = DEFAULT_SERVER, output: FormatOption = Format.table) -> None:
    """Per stream: events counted, duplicates, late, malformed, rate, lag; dead letters."""
    found = _get(server, "/analytics/stats")
    if output is Format.json:
        typer.echo(json.dumps(found, indent=2))
        return
    table = Table("stream", "source", "accepted", "dup", "late", "malformed", "rate/s", "lag p99")
    for s in found["streams"]:
        lag = "-" if s["ingest_lag_p99_s"] is None else f"{s['ingest_lag_p99_s'] * 1000:.0f}ms"
        cells = [s["accepted"], s["duplicates"], s["late"], s["malformed"]]
        row(table, s["stream"], s["source"], *map(str, cells), f"{s['rate_per_s']:.0f}", lag)
    Console().print(table)
    typer.echo(f"dead letters kept: {found['dead_letters']}")


@events_app.command("tail")
def tail(
    service: Annotated[str | None, typer.Option("--service")] = None,
    interval: Annotated[float, typer.Option("--interval", min=0.2)] = 2.0,
    once: Annotated[bool, typer.Option("--once", help="Print the last windows and stop.")] = False,
    server: Server = DEFAULT_SERVER,
) -> None:
    """Follow the newest 1m windows (a line when one is new or changed); Ctrl-C stops."""
    shown: dict[tuple[str, str, int], tuple[int, int]] = {}
    while True:
        for w in _get(
            server, "/analytics/metrics", service=service, window="1m", **{"from": "-5m"}
        ):
            key = (w["stream"], json.dumps(w["labels"], sort_keys=True), w["start"])
            if shown.get(key) != (w["count"], w["errors"]):
                shown[key] = (w["count"], w["errors"])
                typer.echo(_window_line(w))
        if once:
            return
        time.sleep(interval)


def _window_line(w: dict[str, Any]) -> str:
    at = time.strftime("%H:%M", time.gmtime(w["start"]))
    labels = ",".join(f"{k}={v}" for k, v in sorted(w["labels"].items()))
    p99 = "-" if w["p99"] is None else f"{w['p99'] * 1000:.1f}ms"
    return f"{at} {labels} events={w['count']} errors={w['errors']} p99={p99}"


def sla(
    service: Annotated[str, typer.Argument(help="The service's name in its events.")],
    since: Annotated[str, typer.Option("--since", help="How far back: 1h, 7d, 30d.")] = "30d",
    server: Server = DEFAULT_SERVER,
    output: FormatOption = Format.table,
) -> None:
    """Availability of a service over a range: the share of its events that are not errors."""
    found = _get(server, "/analytics/sla", service=service, since=since)
    if output is Format.json:
        typer.echo(json.dumps(found, indent=2))
        return
    share = found["availability"]
    shown = "no events" if share is None else f"{share * 100:.3f}%"
    typer.echo(f"{service} over {since}: {shown} ({found['errors']} errors in {found['count']})")


def _get(server: str, path: str, **params: Any) -> Any:
    try:
        client = _client(server)
        try:
            return client.get(path, **params)
        finally:
            client.close()
    except SafeshipError as exc:
        refuse(console, exc)
