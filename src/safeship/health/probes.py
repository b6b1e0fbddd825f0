"""Health probes: http, tcp and command, each with a timeout, retries and a small backoff.

Probes are the observing edge of the health flow: they touch sockets and processes and return
a `ProbeResult`; health/aggregate.py turns results into healthy / degraded / unhealthy.
A timeout is a failure whose detail says so; it never raises.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import time
from collections.abc import Awaitable, Callable, Container, Sequence
from typing import Protocol

import httpx
from tenacity import wait_exponential

from safeship.core.addresses import join_host_port
from safeship.core.clock import Clock, SystemClock
from safeship.health.result import ProbeResult
from safeship.health.retry import retry_probe

__all__ = ["CommandProbe", "HttpProbe", "Probe", "ProbeResult", "TcpProbe"]

_MAX_BACKOFF_S = 2.0


class Probe(Protocol):
    """Anything that can be asked "are you healthy?" once (retries included)."""

    async def probe(self) -> ProbeResult: ...


class _Retrying:
    """The shared shape of a probe: one attempt, bounded by `timeout`, retried with backoff."""

    def __init__(
        self, *, timeout: float, retries: int, backoff_s: float, clock: Clock | None
    ) -> None:
        if timeout <= 0 or retries < 0 or backoff_s < 0:
            raise ValueError("timeout must be > 0, retries and backoff_s >= 0")
        self.timeout = timeout
        self.retries = retries
        self.backoff_s = backoff_s
        self._clock = clock or SystemClock()

    async def probe(self) -> ProbeResult:
        """Try up to 1 + retries times, backing off exponentially up to 2 s between tries;
        the first success or the last failure."""
        return await retry_probe(
            lambda: _bounded(self._once, self.timeout),
            attempts=self.retries + 1,
            wait=wait_exponential(multiplier=self.backoff_s, max=_MAX_BACKOFF_S),
            clock=self._clock,
        )

    async def _once(self) -> ProbeResult:
        raise NotImplementedError


class HttpProbe(_Retrying):
    """GET `url`; healthy when the status is in `expect_status` (default 200-399)."""

    def __init__(
        self,
        url: str,
        *,
        expect_status: Container[int] = range(200, 400),
        timeout: float = 5.0,
        retries: int = 2,
        backoff_s: float = 0.1,
        client: httpx.AsyncClient | None = None,
        clock: Clock | None = None,
    ) -> None:
        super().__init__(timeout=timeout, retries=retries, backoff_s=backoff_s, clock=clock)
        self.url = url
        self.expect_status = expect_status
        self._client = client

    async def _once(self) -> ProbeResult:
        started = time.perf_counter()
        try:
            status = await self._get_status()
        except httpx.TimeoutException:
            return ProbeResult(False, time.perf_counter() - started, self._timed_out())
        except httpx.HTTPError as exc:
            return ProbeResult(False, time.perf_counter() - started, _describe(exc))
        latency = time.perf_counter() - started
        if status in self.expect_status:
            return ProbeResult(True, latency, f"HTTP {status}")
        return ProbeResult(False, latency, f"HTTP {status}, expected {_expected(self)}")

    async def _get_status(self) -> int:
        if self._client is not None:
            return (await self._client.get(self.url, timeout=self.timeout)).status_code
        # No proxies from the environment: health endpoints are reached directly.
        async with httpx.AsyncClient(timeout=self.timeout, trust_env=False) as client:
            return (await client.get(self.url)).status_code

    def _timed_out(self) -> str:
        return f"GET {self.url} timed out after {self.timeout:g}s"


class TcpProbe(_Retrying):
    """Open a TCP connection to host:port; healthy when it is accepted."""

    def __init__(
        self,
        host: str,
        port: int,
        *,
        timeout: float = 2.0,
        retries: int = 2,
        backoff_s: float = 0.1,
        clock: Clock | None = None,
    ) -> None:
        super().__init__(timeout=timeout, retries=retries, backoff_s=backoff_s, clock=clock)
        self.host = host
        self.port = port

    async def _once(self) -> ProbeResult:
        started = time.perf_counter()
        try:
            _, writer = await asyncio.open_connection(self.host, self.port)
        except OSError as exc:
            reason = exc.strerror or str(exc) or type(exc).__name__
            detail = f"connect to {join_host_port(self.host, self.port)} failed: {reason}"
            return ProbeResult(False, time.perf_counter() - started, detail)
        latency = time.perf_counter() - started
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()
        return ProbeResult(True, latency, f"connected to {join_host_port(self.host, self.port)}")


class CommandProbe(_Retrying):
    """Run `argv`; healthy when it exits 0. A command that overruns is killed with its group."""

    def __init__(
        self,
        argv: Sequence[str],
        *,
        timeout: float = 10.0,
        retries: int = 0,
        backoff_s: float = 0.1,
        clock: Clock | None = None,
    ) -> None:
        if not argv:
            raise ValueError("argv must name a command to run")
        super().__init__(timeout=timeout, retries=retries, backoff_s=backoff_s, clock=clock)
        self.argv = list(argv)

    async def _once(self) -> ProbeResult:
        started = time.perf_counter()
        try:
            proc = await asyncio.create_subprocess_exec(
                *self.argv,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.STDOUT,
                start_new_session=True,  # its own group, so a timeout kills what it forked too
            )
        except OSError as exc:
            detail = f"cannot run {self.argv[0]}: {exc.strerror or exc}"
            return ProbeResult(False, time.perf_counter() - started, detail)
        try:
            output, _ = await proc.communicate()
        except BaseException:  # a timeout cancels us: leave nothing of the command running
            _kill_group(proc.pid)
            await proc.wait()
            raise
        return _command_result(proc.returncode, output, time.perf_counter() - started)


async def _bounded(attempt: Callable[[], Awaitable[ProbeResult]], limit_s: float) -> ProbeResult:
    """One attempt, turned into a failed result if it overruns `limit_s`."""
    started = time.perf_counter()
    try:
        async with asyncio.timeout(limit_s):
            return await attempt()
    except TimeoutError:
        return ProbeResult(False, time.perf_counter() - started, f"timed out after {limit_s:g}s")


def _command_result(code: int | None, output: bytes, latency: float) -> ProbeResult:
    lines = output.decode(errors="replace").strip().splitlines()
    last = f": {lines[-1]}" if lines else ""
    return ProbeResult(code == 0, latency, f"exit code {code}{last}")


def _kill_group(pgid: int) -> None:
    # Even when the leader has exited, a background child may still hold the output pipe.
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pgid, signal.SIGKILL)


def _describe(exc: httpx.HTTPError) -> str:
    text = str(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _expected(probe: HttpProbe) -> str:
    allowed = probe.expect_status
    if isinstance(allowed, range) and allowed.step == 1:
        return f"{allowed.start}-{allowed.stop - 1}"
    return str(allowed)
