"""The `local` provider: replicas are child processes on 127.0.0.1, one free port each.

It sits between the rollout reconciler (which asks "version v has n healthy replicas") and the
operating system. Processes are supervised by fleet/process.py, which guarantees that no child
outlives safeship. A replica whose process has died stays listed by `replicas()` with
`healthy=False` (so the reconciler sees the failure) until the next `scale` of its version
prunes and replaces it, or `close()`.

Targets (for rolling and waves) are named slots given at construction (`targets`: name →
labels); `deploy(target, version)` stops whatever runs in the slot and starts `version` there.
Slot replicas are listed by `replicas()` but never counted or stopped by `scale()`.
`scale(version, n, role="baseline")` runs a second, separately counted pool of a version
(the fresh baseline of a canary); its replica ids read `{service}-{version}-baseline-{n}`.
"""

from __future__ import annotations

import asyncio
import os
import shlex
import shutil
import tempfile
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from types import TracebackType

import httpx
from tenacity import (
    RetryCallState,
    retry_if_exception,
    retry_if_result,
    stop_after_attempt,
    wait_exponential,
)

from safeship.core.clock import Clock, SystemClock
from safeship.core.errors import DeployError
from safeship.core.net import free_port
from safeship.core.types import MAIN, Replica, Role, Target
from safeship.fleet.process import ChildProcess, spawn
from safeship.health.retry import retrying

_PORT_ATTEMPTS = 3
_ADDRESS_IN_USE = ("address already in use", "eaddrinuse", "errno 98")


# Called by `deploy` between "new replica healthy" and "old replica stopped": the wiring
# routes `new` (None: nothing replaces `old`) and returns once `old` is drained.
Handover = Callable[[Replica, Replica | None], Awaitable[None]]


@dataclass(frozen=True)
class _Running:
    replica: Replica
    child: ChildProcess
    argv: tuple[str, ...]
    target: str | None = None


class _StartFailure(DeployError):
    """One replica did not become healthy; `reason` is already phrased for people."""

    def __init__(self, run: _Running, reason: str, *, returncode: int | None = None) -> None:
        super().__init__(reason)
        self.run = run
        self.reason = reason
        self.returncode = returncode

    @property
    def address_in_use(self) -> bool:
        tail = self.run.child.stderr_tail().lower()
        return self.returncode is not None and any(s in tail for s in _ADDRESS_IN_USE)


class LocalProvider:
    """Runs replicas of one service as local processes; implements `Provider`.

    `command` is a template whose elements may contain `{port}`, `{version}`, `{host}` and
    `{replica}` (the replica id, e.g. `web-v2-3`); `version_args[version]` is appended for that
    version. `env` is added to the inherited environment. Each replica's output goes to
    `log_dir/<replica id>.stdout.log` and `.stderr.log` (a temp dir, removed by `close()`,
    when `log_dir` is None).
    """

    def __init__(
        self,
        *,
        service: str,
        command: list[str],
        version_args: Mapping[str, list[str]] | None = None,
        env: Mapping[str, str] | None = None,
        health_path: str = "/health",
        start_timeout: float = 15.0,
        stop_timeout: float = 5.0,
        host: str = "127.0.0.1",
        log_dir: Path | None = None,
        clock: Clock | None = None,
        targets: Mapping[str, Mapping[str, str]] | None = None,
        handover: Handover | None = None,
    ) -> None:
        if not command:
            raise ValueError("command must name a program to run")
        self.service = service
        self._command = list(command)
        self._version_args = {v: list(a) for v, a in (version_args or {}).items()}
        self._env = {**os.environ, **(env or {})}
        self._health_path = health_path
        self._start_timeout = start_timeout
        self._stop_timeout = stop_timeout
        self._host = host
        self._own_log_dir = log_dir is None
        self.log_dir = log_dir or Path(tempfile.mkdtemp(prefix=f"safeship-{service}-"))
        self._clock = clock or SystemClock()
        self._running: list[_Running] = []
        self._targets = {name: dict(labels) for name, labels in (targets or {}).items()}
        self._seq = 0
        self._lock = asyncio.Lock()
        self._handover = handover

    async def __aenter__(self) -> LocalProvider:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    async def replicas(self) -> list[Replica]:
        """Every replica started and not stopped; a dead process is reported `healthy=False`."""
        return [_observed(r) for r in self._running]

    async def scale(self, version: str, count: int, *, role: Role = MAIN) -> list[Replica]:
        """Make exactly `count` healthy replicas of `version` in `role` run; return them
        (oldest first)."""
        if count < 0:
            raise ValueError(f"replica count must be >= 0, found {count}")
        async with self._lock:
            await self._stop([r for r in self._of(version, role) if r.child.poll() is not None])
            current = self._of(version, role)
            if len(current) > count:
                await self._stop(current[count:])  # the newest extras go first
            elif len(current) < count:
                self._running += await self._start_many(version, count - len(current), role)
            return [r.replica for r in self._of(version, role)]

    async def targets(self) -> list[Target]:
        """The slots given at construction, in that order, with what runs in each now."""
        return [self._target(name) for name in self._targets]

    async def deploy(self, target: str, version: str | None) -> Target:
        """Make slot `target` run `version` (None: nothing); idempotent.

        The new process starts (and turns healthy) before the old one stops, so a slot is
        never empty longer than a stop takes; if it cannot start, the old one keeps running.
        In between, `handover(old, new)` (when given) routes the new replica and drains the
        old one, so no request is in flight to a process being stopped, with or without surge.
        """
        if target not in self._targets:
            raise KeyError(f"no target {target!r} in this fleet")
        async with self._lock:
            current = self._in_slot(target)
            if current and current.replica.version == version and current.child.poll() is None:
                return self._target(target)
            if version is not None:
                async with httpx.AsyncClient(timeout=1.0, trust_env=False) as client:
                    started = await self._start_in(target, version, client)
            if current:
                await self._hand_over(current, started if version is not None else None)
                await self._stop([current])
            if version is not None:
                self._running.append(started)
            return self._target(target)

    async def _hand_over(self, current: _Running, started: _Running | None) -> None:
        if self._handover is None:
            return
        try:
            await self._handover(current.replica, None if started is None else _observed(started))
        except BaseException:
            if started is not None:  # not recorded yet: stop it rather than orphan it
                await asyncio.shield(started.child.stop(self._stop_timeout))
            raise

    async def close(self) -> None:
        """Stop every replica this provider started (SIGTERM, then SIGKILL after stop_timeout)."""
        async with self._lock:
            await self._stop(list(self._running))
        if self._own_log_dir:
            shutil.rmtree(self.log_dir, ignore_errors=True)

    def pid(self, replica_id: str) -> int | None:
        """The process id of a replica this provider runs (for operators and tests), or None."""
        return next((r.child.pid for r in self._running if r.replica.id == replica_id), None)

    def _of(self, version: str, role: Role = MAIN) -> list[_Running]:
        return [
            r
            for r in self._running
            if r.replica.version == version and r.replica.role == role and r.target is None
        ]

    def _in_slot(self, target: str) -> _Running | None:
        return next((r for r in self._running if r.target == target), None)

    def _target(self, name: str) -> Target:
        run = self._in_slot(name)
        labels = self._targets[name]
        if run is None:
            return Target(name=name, labels=labels)
        replica = _observed(run)
        return Target(name, labels, replica.version, replica.healthy, replica)

    async def _start_in(self, target: str, version: str, client: httpx.AsyncClient) -> _Running:
        try:
            return await self._start_one(version, client, target=target)
        except _StartFailure as failure:
            raise _deploy_error(version, failure) from None

    async def _stop(self, runs: list[_Running]) -> None:
        await asyncio.gather(*(r.child.stop(self._stop_timeout) for r in runs))
        self._running = [r for r in self._running if r not in runs]

    async def _start_many(self, version: str, n: int, role: Role) -> list[_Running]:
        """Start `n` replicas in parallel; if any fails, stop them all and raise DeployError."""
        async with httpx.AsyncClient(timeout=1.0, trust_env=False) as client:
            results = await asyncio.gather(
                *(self._start_one(version, client, role=role) for _ in range(n)),
                return_exceptions=True,
            )
        started = [r for r in results if isinstance(r, _Running)]
        failures = [r for r in results if isinstance(r, BaseException)]
        if failures:
            await asyncio.gather(*(r.child.stop(self._stop_timeout) for r in started))
            raise _deploy_error(version, failures[0])
        return started

    async def _start_one(
        self,
        version: str,
        client: httpx.AsyncClient,
        *,
        target: str | None = None,
        role: Role = MAIN,
    ) -> _Running:
        """Start one replica; on a lost race for its port, try again on another port."""
        controller = retrying(
            clock=self._clock,
            stop=stop_after_attempt(_PORT_ATTEMPTS),
            retry=retry_if_exception(_lost_port_race),
            reraise=True,
        )
        started: _Running = await controller(self._start_once, version, client, target, role)
        return started

    async def _start_once(
        self, version: str, client: httpx.AsyncClient, target: str | None, role: Role
    ) -> _Running:
        """Launch on a free port and wait until healthy; a replica that fails is stopped."""
        run = self._launch(version, free_port(self._host), target=target, role=role)
        try:
            await self._await_healthy(run, client)
        except _StartFailure:
            await run.child.stop(self._stop_timeout)
            raise
        except BaseException:
            await asyncio.shield(run.child.stop(self._stop_timeout))
            raise
        return run

    def _launch(
        self, version: str, port: int, *, target: str | None = None, role: Role = MAIN
    ) -> _Running:
        self._seq += 1
        owner = target or self.service
        name = (
            f"{owner}-{version}-{self._seq}"
            if role == MAIN
            else f"{owner}-{version}-{role}-{self._seq}"
        )
        replica = Replica(id=name, version=version, host=self._host, port=port, role=role)
        argv = self._argv(replica)
        child = spawn(
            argv,
            env=self._env,
            stdout_path=self.log_dir / f"{replica.id}.stdout.log",
            stderr_path=self.log_dir / f"{replica.id}.stderr.log",
        )
        return _Running(replica=replica, child=child, argv=tuple(argv), target=target)

    def _argv(self, replica: Replica) -> list[str]:
        values = {
            "{port}": str(replica.port),
            "{version}": replica.version,
            "{host}": replica.host,
            "{replica}": replica.id,
        }
        template = self._command + self._version_args.get(replica.version, [])
        return [fill_placeholders(part, values) for part in template]

    async def _await_healthy(self, run: _Running, client: httpx.AsyncClient) -> None:
        """Poll the health path with a short backoff until 2xx, exit, or start_timeout."""
        url = f"{run.replica.url}{self._health_path}"
        deadline = self._clock.now() + self._start_timeout

        async def once() -> tuple[bool, str]:
            answer = await _health_get(client, url)
            # Checked after the probe too: a process that lost its port race may exit while a
            # stranger that won the port answers our probe.
            if (code := run.child.poll()) is not None:
                raise _StartFailure(run, f"exited with code {code}", returncode=code)
            return answer

        def timed_out(state: RetryCallState) -> None:
            assert state.outcome is not None  # called back after an attempt
            _, last = state.outcome.result()
            raise _StartFailure(run, _timeout_reason(url, self._start_timeout, last))

        controller = retrying(
            clock=self._clock,
            stop=lambda _: self._clock.now() >= deadline,  # the injected clock, not monotonic
            wait=wait_exponential(multiplier=0.02, max=0.25),
            retry=retry_if_result(lambda answer: not answer[0]),
            retry_error_callback=timed_out,
        )
        await controller(once)


def _lost_port_race(exc: BaseException) -> bool:
    return isinstance(exc, _StartFailure) and exc.address_in_use


def _observed(run: _Running) -> Replica:
    if run.child.poll() is None:
        return run.replica
    return replace(run.replica, healthy=False)


def fill_placeholders(part: str, values: Mapping[str, str]) -> str:
    """`part` with each `{placeholder}` of `values` replaced (the agent fills commands too)."""
    # Plain replacement, not str.format: arguments may legitimately contain other braces.
    for placeholder, value in values.items():
        part = part.replace(placeholder, value)
    return part


async def _health_get(client: httpx.AsyncClient, url: str) -> tuple[bool, str]:
    try:
        response = await client.get(url)
    except httpx.HTTPError as exc:
        return False, f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
    return response.is_success, f"HTTP {response.status_code}"


def _timeout_reason(url: str, timeout: float, last: str) -> str:
    return f"did not answer {url} with 2xx within {timeout:g}s (last: {last})"


def _deploy_error(version: str, failure: BaseException) -> BaseException:
    if not isinstance(failure, _StartFailure):
        return failure
    run = failure.run
    tail = run.child.stderr_tail(20) or "(stderr was empty)"
    return DeployError(
        f"replica {run.replica.id} of version {version!r} failed to start: {failure.reason}\n"
        f"command: {shlex.join(run.argv)}\n"
        f"last lines of stderr ({run.child.stderr_path}):\n{tail}"
    )
