"""The bounded load generator: steady GET traffic whose every outcome is blamed on someone.

In the demo (and in tests of routers and rollouts) it is the "users" of the data flow: it
sends requests at a fixed rate through the router and tells apart errors of a *version*
(a backend's own 5xx, tagged `X-Version`) from errors of the *mechanics* (refused or reset
connections, timeouts, 502/503/504, anything tagged `X-Safeship-Router: error`). A rollout
that is correct shows version errors only while a bad canary gets traffic, and no mechanics
errors at all.

    python -m safeship.demo.load --url URL --rate R --duration S --out FILE [--concurrency C]

It is bounded on purpose: at most 2000 requests/s, at most an hour, loopback targets only.
"""

from __future__ import annotations

import argparse
import asyncio
import ipaddress
import json
import signal
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

import httpx

from safeship.core.durations import parse_duration

MAX_RATE = 2000.0
MAX_DURATION_S = 3600.0
MAX_CONCURRENCY = 1000
MAX_SAMPLES = 10
_NAP_S = 0.05

OutcomeKind = Literal["ok", "version_error", "mechanics_error", "other"]


@dataclass(frozen=True)
class Outcome:
    """How one request ended and whom to blame: a version, the mechanics, or nobody."""

    kind: OutcomeKind
    version: str | None
    detail: str


def classify(
    status: int | None, headers: Mapping[str, str], error: BaseException | None
) -> Outcome:
    """Classify one request's result (pure: status and headers of the answer, or the error).

    `other` is a non-2xx, non-5xx answer (3xx/4xx): neither a version's nor the mechanics' fault.
    """
    if error is not None or status is None:
        return Outcome("mechanics_error", None, _error_text(error))
    lowered = {k.lower(): v for k, v in headers.items()}
    version = lowered.get("x-version")
    router = lowered.get("x-safeship-router")
    if router is not None and router.lower() == "error":
        return Outcome("mechanics_error", version, f"HTTP {status} made by the router")
    if 200 <= status < 300:
        return Outcome("ok", version, f"HTTP {status}")
    if status >= 500 and version is not None and router is None:
        return Outcome("version_error", version, f"HTTP {status} from version {version}")
    if status >= 500:
        return Outcome("mechanics_error", version, f"HTTP {status} not attributable to a version")
    return Outcome("other", version, f"HTTP {status}")


def target_error(url: str) -> str | None:
    """Why `url` may not be load-tested (only loopback hosts may), or None when it may."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return f"expected an http:// or https:// URL with a host, found {url!r}"
    host = parts.hostname
    if host == "localhost":
        return None
    try:
        if ipaddress.ip_address(host).is_loopback:
            return None
    except ValueError:
        pass
    return (
        f"refusing to send load to {host!r}: only loopback targets are allowed "
        "(127.0.0.0/8, ::1, localhost)"
    )


def limits_error(*, rate: float, duration: float, concurrency: int) -> str | None:
    """Why these bounds are refused, or None when they are within the generator's limits."""
    if not 0 < rate <= MAX_RATE:
        return f"--rate must be within (0, {MAX_RATE:g}] requests/s, found {rate:g}"
    if not 0 < duration <= MAX_DURATION_S:
        return f"--duration must be within (0, {MAX_DURATION_S:g}] seconds, found {duration:g}"
    if not 0 < concurrency <= MAX_CONCURRENCY:
        return f"--concurrency must be within 1..{MAX_CONCURRENCY}, found {concurrency}"
    return None


@dataclass
class LoadReport:
    """Counts of one run, accumulated as answers arrive; `to_json` is the --out file."""

    sent: int = 0
    ok: int = 0
    other: int = 0
    version_errors: dict[str, int] = field(default_factory=dict)
    mechanics_errors: int = 0
    mechanics_error_samples: list[str] = field(default_factory=list)
    by_version: dict[str, dict[str, int]] = field(default_factory=dict)
    first_seen: dict[str, float] = field(default_factory=dict)
    per_second: dict[int, dict[str, int]] = field(default_factory=dict)
    duration_s: float = 0.0
    started_at: float = 0.0  # unix time of second 0, so callers can cut the run into windows

    def record(self, outcome: Outcome, *, second: int, now: float) -> None:
        """Count one finished request, sent during `second` of the run, answered at `now`."""
        bucket = self.per_second.setdefault(second, dict.fromkeys(_KINDS, 0))
        bucket[outcome.kind] += 1
        if outcome.version is not None:
            self.first_seen.setdefault(outcome.version, now)
        if outcome.kind == "mechanics_error":
            self._mechanics(outcome.detail)
        elif outcome.kind == "other":
            self.other += 1
        elif outcome.version is None:
            self.ok += 1  # a 2xx without X-Version: fine, but attributable to no version
        else:
            self._versioned(outcome.kind, outcome.version)

    @property
    def answered(self) -> int:
        return self.ok + self.other + self.mechanics_errors + sum(self.version_errors.values())

    def to_dict(self) -> dict[str, Any]:
        return {
            "sent": self.sent,
            "ok": self.ok,
            "other": self.other,
            "version_errors": dict(self.version_errors),
            "mechanics_errors": self.mechanics_errors,
            "mechanics_error_samples": list(self.mechanics_error_samples),
            "by_version": {v: dict(c) for v, c in self.by_version.items()},
            "first_seen": dict(self.first_seen),
            "per_second": [{"second": s, **c} for s, c in sorted(self.per_second.items())],
            "duration_s": round(self.duration_s, 3),
            "started_at": self.started_at,
            "achieved_rate": round(self.sent / self.duration_s, 1) if self.duration_s else 0.0,
        }

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, sort_keys=True)

    def _mechanics(self, detail: str) -> None:
        self.mechanics_errors += 1
        if len(self.mechanics_error_samples) < MAX_SAMPLES:
            self.mechanics_error_samples.append(detail)

    def _versioned(self, kind: OutcomeKind, version: str) -> None:
        counts = self.by_version.setdefault(version, {"ok": 0, "errors": 0})
        if kind == "ok":
            self.ok += 1
            counts["ok"] += 1
        else:
            self.version_errors[version] = self.version_errors.get(version, 0) + 1
            counts["errors"] += 1


_KINDS: tuple[OutcomeKind, ...] = ("ok", "version_error", "mechanics_error", "other")


async def run_load(
    *,
    url: str,
    rate: float,
    duration: float,
    stop_event: asyncio.Event | None = None,
    concurrency: int = 100,
    request_timeout: float = 5.0,
) -> LoadReport:
    """Send GET `url` at `rate` per second for `duration` s (or until `stop_event`); count all.

    Requests in flight when the run ends are awaited (each bounded by `request_timeout`), so
    `sent` equals the number of outcomes counted. Raises ValueError for a refused target/bound.
    """
    problem = target_error(url) or limits_error(
        rate=rate, duration=duration, concurrency=concurrency
    )
    if problem:
        raise ValueError(problem)
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(limits=limits, timeout=request_timeout, trust_env=False) as client:
        run = _Run(client=client, url=url, rate=rate, concurrency=concurrency)
        await run.dispatch(duration=duration, stop=stop_event or asyncio.Event())
    return run.report


class _Run:
    """One run's dispatcher: requests on a fixed schedule, at most `concurrency` in flight."""

    def __init__(
        self, *, client: httpx.AsyncClient, url: str, rate: float, concurrency: int
    ) -> None:
        self.client = client
        self.url = url
        self.rate = rate
        self.report = LoadReport()
        self._slots = asyncio.Semaphore(concurrency)
        self._tasks: set[asyncio.Task[None]] = set()
        self._started = time.monotonic()

    async def dispatch(self, *, duration: float, stop: asyncio.Event) -> None:
        # Request i is due at i / rate; a late wake-up sends every overdue request at once, so
        # the achieved rate does not sag with timer granularity or a busy machine.
        self._started = time.monotonic()
        self.report.started_at = time.time()
        total = max(1, int(duration * self.rate))
        while not stop.is_set() and (elapsed := self._elapsed()) < duration:
            due = min(int(elapsed * self.rate) + 1, total)
            while self.report.sent < due and not stop.is_set() and self._elapsed() < duration:
                await self._launch()
            next_at = self.report.sent / self.rate if self.report.sent < total else duration
            # Short naps at most, so a stop request is seen within _NAP_S.
            await asyncio.sleep(min(_NAP_S, max(0.0, next_at - self._elapsed())))
        if self._tasks:
            await asyncio.wait(self._tasks)
        self.report.duration_s = self._elapsed()

    def _elapsed(self) -> float:
        return time.monotonic() - self._started

    async def _launch(self) -> None:
        await self._slots.acquire()
        second = int(self._elapsed())
        self.report.sent += 1
        task = asyncio.create_task(self._request(second))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _request(self, second: int) -> None:
        try:
            response = await self.client.get(self.url)
            outcome = classify(response.status_code, response.headers, None)
        except (httpx.HTTPError, OSError) as exc:
            outcome = classify(None, {}, exc)
        finally:
            self._slots.release()
        self.report.record(outcome, second=second, now=time.time())


def _error_text(error: BaseException | None) -> str:
    if error is None:
        return "no answer"
    text = str(error)
    return f"{type(error).__name__}: {text}" if text else type(error).__name__


def _parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m safeship.demo.load", description="Bounded loopback load generator."
    )
    parser.add_argument("--url", required=True, help="loopback URL to GET")
    parser.add_argument("--rate", type=float, required=True, help=f"requests/s, <= {MAX_RATE:g}")
    parser.add_argument("--duration", type=_seconds, required=True, help="e.g. 90, 30s, 5m")
    parser.add_argument("--out", type=Path, required=True, help="where to write the JSON report")
    parser.add_argument("--concurrency", type=int, default=100, help="max requests in flight")
    parser.add_argument("--timeout", type=float, default=5.0, help="per-request timeout, s")
    return parser.parse_args(argv)


async def _main(args: argparse.Namespace) -> LoadReport:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    return await run_load(
        url=args.url,
        rate=args.rate,
        duration=args.duration,
        stop_event=stop,
        concurrency=args.concurrency,
        request_timeout=args.timeout,
    )


def main(argv: list[str] | None = None) -> int:
    """The command line; exit 0 with the report written, 2 for a refused target or bound."""
    args = _parse(sys.argv[1:] if argv is None else argv)
    problem = (
        target_error(args.url)
        or limits_error(rate=args.rate, duration=args.duration, concurrency=args.concurrency)
        or _out_error(args.out)
    )
    if problem:
        print(f"error: {problem}", file=sys.stderr)
        return 2
    report = asyncio.run(_main(args))
    partial = args.out.with_name(args.out.name + ".partial")
    partial.write_text(report.to_json() + "\n")
    partial.replace(args.out)  # readers never see a half-written report
    return 0


def _seconds(text: str) -> float:
    """A duration flag: bare seconds ("90", "1.5") or with units ("30s", "5m")."""
    try:
        return float(text)
    except ValueError:
        return parse_duration(text)


def _out_error(out: Path) -> str | None:
    if out.parent.is_dir():
        return None
    return f"--out {str(out)!r}: directory {str(out.parent)!r} does not exist"


if __name__ == "__main__":
    sys.exit(main())
