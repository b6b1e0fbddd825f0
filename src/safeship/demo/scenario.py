"""The demo scenario: v1 on 4 replicas under load, a good canary v2 promoted, a bad v3 rolled back.

Everything is real: replicas are processes, traffic goes through the embedded router, the
load generator is a separate process that tells client-visible failures caused by the bad
version apart from those caused by the deployment mechanics (which must be zero).
"""

from __future__ import annotations

import asyncio
import json
import signal
import sys
import tempfile
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from safeship.config.models import RolloutSpec
from safeship.rollout.state import Phase, Plan, RolloutStatus
from safeship.store.repository import Store
from safeship.wiring.local_stack import LocalStack, local_stack
from safeship.wiring.run import run_rollout

LOAD_RATE = 50  # requests per second, loopback only
BAD_VERSION_ARGS = ["--error-ratio", "0.1", "--latency-ms", "150"]


def demo_spec(*, fast: bool, port: int) -> RolloutSpec:
    """The demo's rollout spec; `fast` shortens every duration (whole scenario < 90 s)."""
    interval, pause = ("2s", "4s") if fast else ("5s", "20s")
    return RolloutSpec.model_validate(
        {
            "service": {
                "name": "demo",
                "command": [
                    "python",
                    "-m",
                    "safeship.demo.service",
                    "--port",
                    "{port}",
                    "--version",
                    "{version}",
                ],
                "stable": "v1",
                "versions": {"v3": {"args": BAD_VERSION_ARGS}},
            },
            "fleet": {"replicas": 4, "startTimeout": "20s", "stopTimeout": "5s"},
            "router": {"listen": f"127.0.0.1:{port}"},
            # Analysis runs on PromQL over the router's series, scraped every second.
            "metrics": {"source": {"embedded": {"scrapeInterval": "1s"}}},
            "analysis": {
                "interval": interval,
                "window": "10s" if fast else "30s",
                "metrics": [
                    {"name": "success-rate", "builtin": "request-success-rate", "min": 0.99},
                    {"name": "latency-p99", "builtin": "request-duration-p99", "max": 100},
                ],
            },
            "strategy": {
                "canary": {
                    "canaryReplicas": 1,
                    "steps": [
                        {"setWeight": 20},
                        {"analysis": {"count": 3}},
                        {"setWeight": 50},
                        {"pause": {"duration": pause}},
                        {"analysis": {"count": 2}},
                    ],
                }
            },
        }
    )


@dataclass
class RolloutOutcome:
    version: str
    from_version: str
    result: str
    duration_s: float
    reason: str
    canary_traffic_to_zero_s: float | None
    started_at: float
    finished_at: float
    requests_sent: int = 0  # by the load generator while this rollout ran
    failures_bad_version: int = 0  # 5xx answered by a replica
    failures_mechanics: int = 0  # refused, reset, timed out, or 502/503/504 from the router

    def count(self, load: dict[str, Any]) -> None:
        """Fill the request figures from the load generator's per-second counts."""
        origin = float(load.get("started_at", 0.0))
        for bucket in load.get("per_second", []):
            if self.started_at <= origin + bucket["second"] + 0.5 < self.finished_at:
                self.requests_sent += sum(bucket.get(k, 0) for k in _KINDS)
                self.failures_bad_version += bucket.get("version_error", 0)
                self.failures_mechanics += bucket.get("mechanics_error", 0)


_KINDS = ("ok", "version_error", "mechanics_error", "other")


@dataclass
class DemoReport:
    rollouts: list[RolloutOutcome] = field(default_factory=list)
    load: dict[str, Any] = field(default_factory=dict)

    @property
    def mechanics_failures(self) -> int:
        return int(self.load.get("mechanics_errors", 0))

    @property
    def as_expected(self) -> bool:
        results = [(r.version, r.result) for r in self.rollouts]
        expected = [("v2", Phase.PROMOTED.value), ("v3", Phase.ROLLED_BACK.value)]
        return results == expected and self.mechanics_failures == 0

    def to_json(self) -> dict[str, Any]:
        return {
            "rollouts": [asdict(r) for r in self.rollouts],
            "requests_sent": self.load.get("sent", 0),
            "failures": {
                "caused_by_bad_version": self.load.get("version_errors", {}),
                "caused_by_deployment_mechanics": self.mechanics_failures,
            },
            "load": self.load,
            "as_expected": self.as_expected,
        }


async def run_demo(
    *,
    fast: bool,
    port: int,
    store: Store,
    on_plan: Callable[[Plan], None] | None = None,
    on_report: Callable[[DemoReport, LocalStack], None] | None = None,
    hold: bool = False,
) -> DemoReport:
    """Run the scenario; with `hold`, keep the fleet serving after the report until cancelled."""
    spec = demo_spec(fast=fast, port=port)
    report = DemoReport()
    async with local_stack(spec) as stack:
        await stack.serve("v1")
        url = stack.url
        assert url is not None, "demo_spec routes through the embedded router"
        async with _load(url, duration=3600) as load_result:
            for version in ("v2", "v3"):
                status = await run_rollout(
                    stack, store, version=version, actor="demo", on_plan=on_plan
                )
                report.rollouts.append(_outcome(status))
        report.load = load_result
        for outcome in report.rollouts:
            outcome.count(load_result)
        if on_report:
            on_report(report, stack)
        if hold:
            await asyncio.Event().wait()
    return report


def _outcome(status: RolloutStatus) -> RolloutOutcome:
    to_zero = None
    if status.phase is Phase.ROLLED_BACK and status.canary_traffic_at and status.traffic_zero_at:
        to_zero = round(status.traffic_zero_at - status.canary_traffic_at, 2)
    return RolloutOutcome(
        version=status.canary_version,
        from_version=status.stable_version,
        result=status.phase.value,
        duration_s=round((status.finished_at or status.started_at) - status.started_at, 2),
        reason=status.message,
        canary_traffic_to_zero_s=to_zero,
        started_at=status.started_at,
        finished_at=status.finished_at or status.started_at,
    )


class _load:
    """The load generator as a child process; its JSON result fills the dict on exit."""

    def __init__(self, url: str, *, duration: int) -> None:
        self.url, self.duration = url, duration
        self.out = Path(tempfile.mkdtemp(prefix="safeship-load-")) / "load.json"
        self.result: dict[str, Any] = {}

    async def __aenter__(self) -> dict[str, Any]:
        argv = [sys.executable, "-m", "safeship.demo.load", "--url", self.url]
        argv += ["--rate", str(LOAD_RATE), "--duration", str(self.duration), "--out", str(self.out)]
        self.process = await asyncio.create_subprocess_exec(*argv)
        await asyncio.sleep(1.0)  # let it warm up its connections before the first rollout
        return self.result

    async def __aexit__(self, *exc_info: object) -> None:
        if self.process.returncode is None:
            self.process.send_signal(signal.SIGTERM)
        await asyncio.wait_for(self.process.wait(), timeout=15)
        if self.out.exists():
            self.result.update(json.loads(self.out.read_text()))
