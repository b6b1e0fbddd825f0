"""The agent's supervision loop: desired units in, processes started, watched, restarted.

Each tick observes every recorded process (alive, same start time?), decides from the
desired state and the restart policy (`agent.backoff`), persists the observed state, then
acts: starts run as tasks (spawn, record the pid at once, then wait for health), so one slow
start never holds up noticing another crash. A unit leaves the desired state → its process
is stopped, but only once no start of the same service is pending, so new router workers
listen before old ones close. `adopt` is what a restarting agent does first (`agent.adoption`).
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Coroutine, Mapping
from pathlib import Path
from typing import Any

import httpx

from safeship.agent import files, procs
from safeship.agent.adoption import Adoption, Probe, decide
from safeship.agent.backoff import GiveUp, RestartPolicy, after_crash
from safeship.agent.model import Desired, Observed, Record, Unit
from safeship.core.clock import Clock
from safeship.core.errors import SafeshipError
from safeship.core.secrets import resolve_env
from safeship.fleet.local import fill_placeholders

log = logging.getLogger(__name__)

TICK = 0.2


class Supervisor:
    """Keeps the units of `desired` running; `observed` is its record of their processes."""

    def __init__(
        self,
        *,
        state_dir: Path,
        desired: Desired,
        clock: Clock,
        policy: RestartPolicy | None = None,
        start_timeout: float = 15.0,
        stop_timeout: float = 5.0,
        environ: Mapping[str, str] | None = None,
    ) -> None:
        self.desired = desired
        self.observed_path = state_dir / "observed.json"
        self.observed = files.load(self.observed_path, Observed)
        self.log_dir = state_dir / "logs"
        self._clock = clock
        self._policy = policy or RestartPolicy()
        self._start_timeout = start_timeout
        self._stop_timeout = stop_timeout
        self._environ = dict(os.environ if environ is None else environ)
        self._tasks: dict[str, asyncio.Task[None]] = {}  # unit id → its start or stop
        self.http = httpx.AsyncClient(timeout=1.0, trust_env=False)
        self.wake = asyncio.Event()
        self._saved = ""

    async def run(self, stop: asyncio.Event) -> None:
        """Tick until `stop` is set; a new desired state (`wake`) ticks at once."""
        while not stop.is_set():
            self.tick()
            self.wake.clear()
            waits = [asyncio.ensure_future(e.wait()) for e in (stop, self.wake)]
            await asyncio.wait(waits, timeout=TICK, return_when=asyncio.FIRST_COMPLETED)
            for waiting in waits:
                waiting.cancel()

    def tick(self) -> None:
        now = self._clock.now()
        units = self.units()
        records = self.observed.records
        for record in records.values():
            watched = record.id not in self._tasks and record.state in ("starting", "ready")
            if watched and not _alive(record):
                self._crashed(record, now, "exited")
        for unit_id, (service, unit) in units.items():
            found = records.get(unit_id)
            due = found is None or (found.state == "backoff" and now >= (found.next_start or 0))
            if due and unit_id not in self._tasks:
                self._spawn_task(unit_id, self._start(service, unit))
        starting = {records[i].service for i in self._tasks if i in records and i in units}
        for record in list(records.values()):
            unwanted = record.id not in units and record.id not in self._tasks
            if unwanted and record.service not in starting:
                self._spawn_task(record.id, self._stop(record))
        self.save()

    def units(self) -> dict[str, tuple[str, Unit]]:
        """Every desired unit by id, with its service."""
        out: dict[str, tuple[str, Unit]] = {}
        for name, service in self.desired.services.items():
            for unit in (*service.replicas, *service.workers):
                out[unit.id] = (name, unit)
        return out

    async def adopt(self) -> dict[str, Adoption]:
        """Decide for every recorded process whether to keep it; stop ours that do not answer."""
        decisions: dict[str, Adoption] = {}
        for record in self.observed.records.values():
            if record.pid is None:
                continue
            decision = decide(
                recorded_pid=record.pid,
                recorded_start=record.start_time,
                probe=await self._probe(record),
            )
            decisions[record.id] = decision
            if decision.stops_process:
                await procs.stop_group(record.pid, record.start_time, grace=self._stop_timeout)
            if decision.keeps_process:
                record.state, record.reason = "ready", "adopted"
            else:
                record.pid, record.start_time = None, None
                record.state, record.next_start, record.reason = "backoff", 0.0, decision.value
        self.save()
        return decisions

    async def stop_all(self) -> None:
        """Stop every process (`--stop-fleet-on-exit`); waits for starts in progress first."""
        await asyncio.gather(*self._tasks.values(), return_exceptions=True)
        records = list(self.observed.records.values())
        await asyncio.gather(*(self._stop(r) for r in records))

    async def close(self) -> None:
        for task in self._tasks.values():
            task.cancel()
        await asyncio.gather(*self._tasks.values(), return_exceptions=True)
        await self.http.aclose()
        self.save()

    def save(self) -> None:
        """Write the observed state when it changed (every tick asks; most change nothing)."""
        data = self.observed.model_dump_json(indent=1)
        if data != self._saved:
            files.write_atomically(self.observed_path, data.encode())
            self._saved = data

    async def _probe(self, record: Record) -> Probe:
        assert record.pid is not None
        start_time = procs.proc_start_time(record.pid)
        if start_time is None or start_time != record.start_time:
            return Probe(alive=start_time is not None, start_time=start_time, healthy=False)
        unit = self.units().get(record.id)
        path = unit[1].health_path if unit else "/health"
        url = f"http://127.0.0.1:{record.port}{path}"
        for _ in range(5):  # a busy process gets a second or so to answer
            if await procs.healthy(self.http, url):
                return Probe(alive=True, start_time=start_time, healthy=True)
            await asyncio.sleep(0.2)
        return Probe(alive=True, start_time=start_time, healthy=False)

    def _spawn_task(self, unit_id: str, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.ensure_future(work)
        self._tasks[unit_id] = task
        task.add_done_callback(lambda _: self._done(unit_id, task))

    def _done(self, unit_id: str, task: asyncio.Task[None]) -> None:
        if self._tasks.get(unit_id) is task:
            del self._tasks[unit_id]
        if not task.cancelled() and task.exception() is not None:
            log.error("unit %s: %s", unit_id, task.exception())
        self.wake.set()

    async def _start(self, service: str, unit: Unit) -> None:
        record = self.observed.records.get(unit.id) or Record(
            id=unit.id, service=service, port=unit.port
        )
        self.observed.records[unit.id] = record
        try:
            env = {
                **self._environ,
                **resolve_env(unit.env, environ=self._environ, where=f"{unit.id}.env"),
            }
        except SafeshipError as exc:
            record.state, record.reason = "failed", str(exc)
            return
        started = procs.spawn_detached(
            self._argv(unit), env=env, log_dir=self.log_dir, name=unit.id
        )
        record.pid, record.start_time = started.pid, started.start_time
        record.state, record.next_start, record.starts = "starting", None, record.starts + 1
        self.save()  # before waiting: an agent killed now re-adopts this process
        if await self._await_healthy(unit, started):
            record.state, record.reason = "ready", ""
        else:
            reason = procs.stderr_tail(self.log_dir, unit.id) or "not healthy in time"
            await procs.stop_group(started.pid, started.start_time, grace=self._stop_timeout)
            self._crashed(record, self._clock.now(), reason)
        self.save()

    async def _await_healthy(self, unit: Unit, started: procs.Started) -> bool:
        url = f"http://{unit.host}:{unit.port}{unit.health_path}"
        deadline = self._clock.now() + self._start_timeout
        wait = 0.02
        while self._clock.now() < deadline:
            if not procs.running(started.pid, started.start_time):
                return False
            if await procs.healthy(self.http, url):
                return True
            await asyncio.sleep(wait)
            wait = min(wait * 2, 0.25)
        return False

    async def _stop(self, record: Record) -> None:
        if record.pid is not None:
            await procs.stop_group(record.pid, record.start_time, grace=self._stop_timeout)
        self.observed.records.pop(record.id, None)
        self.save()

    def _crashed(self, record: Record, now: float, reason: str) -> None:
        record.crashes, verdict = after_crash(self._policy, record.crashes, now)
        record.pid, record.start_time = None, None
        if isinstance(verdict, GiveUp):
            record.state, record.next_start = "failed", None
            record.reason = f"{verdict.reason}: {reason}"
            log.error("unit %s failed: %s", record.id, verdict.reason)
        else:
            record.state, record.next_start = "backoff", verdict.at
            record.reason = f"{reason}; restart in {verdict.delay:g}s"

    def _argv(self, unit: Unit) -> list[str]:
        values = {
            "{port}": str(unit.port),
            "{version}": unit.version or "",
            "{host}": unit.host,
            "{replica}": unit.id,
        }
        return [fill_placeholders(part, values) for part in unit.argv]


def _alive(record: Record) -> bool:
    return record.pid is not None and procs.running(record.pid, record.start_time)
