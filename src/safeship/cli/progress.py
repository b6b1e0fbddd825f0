"""Live progress of a rollout in the terminal: step, weight, last verdict, and every event."""

from __future__ import annotations

import time
from types import TracebackType

from rich.console import Console
from rich.status import Status
from rich.text import Text

from safeship.cli.output import say
from safeship.config.models import RolloutSpec
from safeship.core.durations import format_duration
from safeship.core.secrets import scrub
from safeship.rollout.state import Phase, Plan, RolloutStatus
from safeship.rollout.strategies import compile_steps, local_targets

STYLE = {Phase.PROMOTED: "green", Phase.ROLLED_BACK: "red", Phase.PAUSED: "yellow"}


class RolloutProgress:
    def __init__(self, console: Console, spec: RolloutSpec) -> None:
        self.console = console
        self.steps = len(compile_steps(spec, local_targets(spec)))
        self._status: Status | None = None

    def __enter__(self) -> RolloutProgress:
        self._status = self.console.status("starting", spinner="dots")
        self._status.__enter__()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._status:
            self._status.__exit__(kind, exc, tb)

    def update(self, plan: Plan) -> None:
        status = plan.status
        stamp = time.strftime("%H:%M:%S")
        for event in plan.events:
            say(self.console, (stamp, "dim"), f" {status.canary_version}: {scrub(event)}")
        if self._status:
            self._status.update(Text(self.line(status)))

    def line(self, status: RolloutStatus) -> str:
        step = min(status.step_index + 1, self.steps)
        verdict = status.last_judgement.outcome.value if status.last_judgement else "-"
        return (
            f"{status.stable_version} → {status.canary_version} · {status.phase.value}"
            f" · step {step}/{self.steps} · canary {status.canary_weight:g}%"
            f" · last verdict {verdict}"
        )

    def summary(self, status: RolloutStatus) -> None:
        took = format_duration((status.finished_at or status.started_at) - status.started_at)
        style = STYLE.get(status.phase, "white")
        say(
            self.console,
            (status.phase.value, style),
            f" {status.service} {status.stable_version} → {status.canary_version} in {took}:"
            f" {scrub(status.message)}",
        )
