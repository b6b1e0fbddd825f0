"""Pre-deployment validation: run the spec's checks, then decide whether a rollout may start.

It sits before the reconciler: `safeship validate` and `safeship run` call `run_validation`
before anything in the fleet changes. http and command checks reuse health/probes.py; disk
space and config files are probed here. `decide` is the pure part: results in, verdict out.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import sys
import time
import tomllib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

import yaml
from tenacity import wait_incrementing

from safeship.config.checks import (
    CheckSpec,
    CommandCheck,
    ConfigFileCheck,
    DiskSpaceCheck,
    HttpCheck,
)
from safeship.core.clock import Clock, SystemClock
from safeship.health.aggregate import CheckResult, HealthState, aggregate
from safeship.health.probes import CommandProbe, HttpProbe, Probe
from safeship.health.result import ProbeResult
from safeship.health.retry import retry_probe

_BACKOFF_S = 0.2


class CheckState(StrEnum):
    PASSED = "passed"
    WARNING = "warning"  # a non-critical check failed
    FAILED = "failed"  # a critical check failed


class Decision(StrEnum):
    PROCEED = "proceed"
    PROCEED_WITH_WARNINGS = "proceed-with-warnings"
    BLOCKED = "blocked"


@dataclass(frozen=True)
class CheckOutcome:
    """One check after all its attempts."""

    name: str
    kind: str
    critical: bool
    result: ProbeResult

    @property
    def state(self) -> CheckState:
        if self.result.ok:
            return CheckState.PASSED
        return CheckState.FAILED if self.critical else CheckState.WARNING


@dataclass(frozen=True)
class ValidationReport:
    outcomes: tuple[CheckOutcome, ...]

    @property
    def decision(self) -> Decision:
        return decide(self.outcomes)

    def with_state(self, state: CheckState) -> list[CheckOutcome]:
        return [o for o in self.outcomes if o.state is state]


_DECISIONS = {
    HealthState.HEALTHY: Decision.PROCEED,
    HealthState.DEGRADED: Decision.PROCEED_WITH_WARNINGS,
    HealthState.UNHEALTHY: Decision.BLOCKED,
}


def decide(outcomes: Sequence[CheckOutcome]) -> Decision:
    """The health rule (health/aggregate.py): a failed critical check blocks, others warn."""
    report = aggregate([CheckResult(o.name, o.result, o.critical) for o in outcomes])
    return _DECISIONS[report.state]


async def run_validation(
    checks: Sequence[CheckSpec], *, base_dir: Path, clock: Clock | None = None
) -> ValidationReport:
    """Run every check concurrently; relative paths are relative to `base_dir` (the spec's)."""
    probes = [probe_for(check, base_dir=base_dir, clock=clock) for check in checks]
    return await run_probes(list(zip(checks, probes, strict=True)))


async def run_probes(named: Sequence[tuple[CheckSpec, Probe]]) -> ValidationReport:
    results = await asyncio.gather(*(probe.probe() for _, probe in named))
    return ValidationReport(
        tuple(
            CheckOutcome(check.name, check.kind, check.critical, result)
            for (check, _), result in zip(named, results, strict=True)
        )
    )


def probe_for(check: CheckSpec, *, base_dir: Path, clock: Clock | None = None) -> Probe:
    """The probe that carries out one check, with its timeout and retries."""
    timeout, retries = check.timeout, check.retries
    if isinstance(check, CommandCheck):
        argv = [_interpreter(part) for part in check.command]
        return CommandProbe(argv, timeout=timeout, retries=retries, clock=clock)
    if isinstance(check, HttpCheck):
        status = check.expect_status or range(200, 400)
        return HttpProbe(
            check.url, expect_status=status, timeout=timeout, retries=retries, clock=clock
        )
    return BlockingProbe(_attempt(check, base_dir), timeout=timeout, retries=retries, clock=clock)


def _attempt(check: DiskSpaceCheck | ConfigFileCheck, base_dir: Path) -> Callable[[], ProbeResult]:
    path = _resolve(check.path, base_dir)
    if isinstance(check, DiskSpaceCheck):
        min_free = check.min_free
        return lambda: disk_space(path, min_free=min_free)
    fmt = check.format
    return lambda: config_file(path, fmt=fmt)


def _interpreter(part: str) -> str:
    """`python` means the interpreter safeship runs on, as in service commands."""
    return sys.executable if part in ("python", "python3") else part


def _resolve(path: str, base_dir: Path) -> Path:
    candidate = Path(path).expanduser()
    return candidate if candidate.is_absolute() else base_dir / candidate


class BlockingProbe:
    """A blocking check run in a thread, bounded by `timeout`, retried `retries` times."""

    def __init__(
        self,
        attempt: Callable[[], ProbeResult],
        *,
        timeout: float,
        retries: int,
        clock: Clock | None = None,
    ) -> None:
        self.attempt, self.timeout, self.retries = attempt, timeout, retries
        self._clock = clock or SystemClock()

    async def probe(self) -> ProbeResult:
        """Up to 1 + retries tries, waiting a little longer after each failure."""
        return await retry_probe(
            self._bounded,
            attempts=self.retries + 1,
            wait=wait_incrementing(start=_BACKOFF_S, increment=_BACKOFF_S),
            clock=self._clock,
        )

    async def _bounded(self) -> ProbeResult:
        started = time.perf_counter()
        try:
            async with asyncio.timeout(self.timeout):
                return await asyncio.to_thread(self.attempt)
        except TimeoutError:
            detail = f"timed out after {self.timeout:g}s"
            return ProbeResult(False, time.perf_counter() - started, detail)


def disk_space(path: Path, *, min_free: int) -> ProbeResult:
    """At least `min_free` bytes free on the filesystem that holds `path`."""
    started = time.perf_counter()
    try:
        free = shutil.disk_usage(path).free
    except OSError as exc:
        return ProbeResult(False, time.perf_counter() - started, f"{path}: {exc.strerror or exc}")
    ok = free >= min_free
    relation = ">=" if ok else "<"
    detail = f"{_size(free)} free {relation} {_size(min_free)} needed on {path}"
    return ProbeResult(ok, time.perf_counter() - started, detail)


def config_file(path: Path, *, fmt: str) -> ProbeResult:
    """`path` exists and parses in its format (auto: from the extension)."""
    started = time.perf_counter()
    kind = _format_of(path) if fmt == "auto" else fmt
    try:
        text = path.read_text(encoding="utf-8")
        _PARSERS[kind](text)
    except (OSError, UnicodeDecodeError) as exc:
        return ProbeResult(False, time.perf_counter() - started, f"cannot read {path}: {exc}")
    except (ValueError, yaml.YAMLError) as exc:  # JSON and TOML errors are ValueErrors
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        return ProbeResult(
            False, time.perf_counter() - started, f"{path} is not valid {kind}: {first}"
        )
    return ProbeResult(True, time.perf_counter() - started, f"{path} parses as {kind}")


_PARSERS: dict[str, Callable[[str], object]] = {
    "json": json.loads,
    "yaml": yaml.safe_load,
    "toml": tomllib.loads,
}


def _format_of(path: Path) -> str:
    suffix = path.suffix.lower().lstrip(".")
    return {"yml": "yaml", "json": "json", "toml": "toml"}.get(suffix, "yaml")


def _size(count: int) -> str:
    value = float(count)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if value < 1024 or unit == "TiB":
            return f"{value:.1f} {unit}" if unit != "B" else f"{count} B"
        value /= 1024
    raise AssertionError("unreachable")
