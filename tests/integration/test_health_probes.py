"""Health probes against real sockets and real commands: success, failure, timeout, retry."""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from pathlib import Path

import pytest

from safeship.health.aggregate import HealthState
from safeship.health.check import Check, run_checks
from safeship.health.probes import CommandProbe, HttpProbe, TcpProbe
from safeship.testing import free_port

pytestmark = pytest.mark.integration


@asynccontextmanager
async def http_server(statuses: Sequence[int], *, delay: float = 0.0) -> AsyncIterator[str]:
    """A real HTTP/1.0-style server answering the given statuses in turn (the last repeats)."""
    answered = 0

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal answered
        await reader.readuntil(b"\r\n\r\n")
        status = statuses[min(answered, len(statuses) - 1)]
        answered += 1
        await asyncio.sleep(delay)
        writer.write(
            f"HTTP/1.1 {status} X\r\nContent-Length: 0\r\nConnection: close\r\n\r\n".encode()
        )
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}/health"
    finally:
        server.close()


def test_http_probe_succeeds_on_2xx() -> None:
    async def scenario() -> tuple[bool, str]:
        async with http_server([200]) as url:
            result = await HttpProbe(url, retries=0).probe()
            return result.ok, result.detail

    assert asyncio.run(scenario()) == (True, "HTTP 200")


def test_http_probe_fails_on_unexpected_status_after_its_retries() -> None:
    async def scenario() -> tuple[bool, str]:
        async with http_server([503]) as url:
            result = await HttpProbe(url, retries=1, backoff_s=0.01).probe()
            return result.ok, result.detail

    assert asyncio.run(scenario()) == (False, "HTTP 503, expected 200-399 (attempt 2 of 2)")


def test_http_probe_reports_a_refused_connection() -> None:
    result = asyncio.run(HttpProbe(f"http://127.0.0.1:{free_port()}/", retries=0).probe())
    assert not result.ok
    assert "ConnectError" in result.detail


def test_http_probe_times_out_with_a_clear_detail() -> None:
    async def scenario() -> tuple[bool, str, float]:
        async with http_server([200], delay=2.0) as url:
            result = await HttpProbe(url, timeout=0.2, retries=0).probe()
            return result.ok, result.detail, result.latency_s

    ok, detail, latency = asyncio.run(scenario())
    assert not ok
    assert "timed out after 0.2s" in detail
    assert 0.15 < latency < 1.0


def test_http_probe_retry_succeeds_on_the_second_try() -> None:
    async def scenario() -> tuple[bool, str]:
        async with http_server([503, 200]) as url:
            result = await HttpProbe(url, retries=2, backoff_s=0.01).probe()
            return result.ok, result.detail

    assert asyncio.run(scenario()) == (True, "HTTP 200 (attempt 2 of 3)")


def test_tcp_probe_succeeds_against_a_listener_and_fails_on_a_closed_port() -> None:
    async def scenario() -> tuple[bool, bool, str]:
        async with http_server([200]) as url:
            port = int(url.split(":")[2].split("/")[0])
            up = await TcpProbe("127.0.0.1", port, retries=0).probe()
        down = await TcpProbe("127.0.0.1", free_port(), retries=0).probe()
        return up.ok, down.ok, down.detail

    up, down, detail = asyncio.run(scenario())
    assert up and not down
    assert "failed: Connect call failed" in detail or "refused" in detail.lower()


def test_tcp_probe_times_out_when_the_listen_queue_is_full() -> None:
    # A listener that never accepts, with its backlog filled: the kernel drops further SYNs,
    # so a connect hangs until our timeout — a faithful stand-in for a black-holed host.
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(0)
        port = listener.getsockname()[1]
        fillers = fill_listen_queue(port)
        try:
            result = asyncio.run(TcpProbe("127.0.0.1", port, timeout=0.3, retries=0).probe())
        finally:
            for filler in fillers:
                filler.close()
    assert not result.ok
    assert result.detail == "timed out after 0.3s"


def fill_listen_queue(port: int) -> list[socket.socket]:
    """Connect until the kernel stops completing handshakes (the listen queue is full)."""
    fillers: list[socket.socket] = []
    for _ in range(8):
        try:
            fillers.append(socket.create_connection(("127.0.0.1", port), timeout=0.2))
        except TimeoutError:
            return fillers
    raise AssertionError("the listen queue never filled up")


def test_tcp_probe_retry_succeeds_once_the_listener_comes_up() -> None:
    port = free_port()

    async def scenario() -> tuple[bool, str]:
        async def late_listener() -> asyncio.Server:
            await asyncio.sleep(0.05)
            return await asyncio.start_server(lambda r, w: w.close(), "127.0.0.1", port)

        starting = asyncio.create_task(late_listener())
        result = await TcpProbe("127.0.0.1", port, retries=3, backoff_s=0.2).probe()
        (await starting).close()
        return result.ok, result.detail

    assert asyncio.run(scenario()) == (True, f"connected to 127.0.0.1:{port} (attempt 2 of 4)")


@pytest.mark.parametrize(
    ("argv", "ok", "detail"),
    [
        (["true"], True, "exit code 0"),
        (["sh", "-c", "echo checking; echo disk full; exit 1"], False, "exit code 1: disk full"),
        (["/nonexistent/check"], False, "cannot run /nonexistent/check: No such file or directory"),
    ],
)
def test_command_probe_is_healthy_only_on_exit_zero(argv: list[str], ok: bool, detail: str) -> None:
    result = asyncio.run(CommandProbe(argv).probe())
    assert (result.ok, result.detail) == (ok, detail)


def test_command_probe_timeout_kills_the_command_and_what_it_forked(tmp_path: Path) -> None:
    pid_file = tmp_path / "sleeper.pid"
    script = f"sleep 5 & echo $! > {pid_file}; wait"
    started = time.monotonic()
    result = asyncio.run(CommandProbe(["sh", "-c", script], timeout=0.3).probe())
    assert not result.ok
    assert result.detail == "timed out after 0.3s"
    assert time.monotonic() - started < 2.0
    sleeper = int(pid_file.read_text())
    time.sleep(0.1)
    assert not Path(f"/proc/{sleeper}").exists() or "Z" in _state(sleeper)


def _state(pid: int) -> str:
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]


def test_command_probe_retry_succeeds_on_the_second_try(tmp_path: Path) -> None:
    marker = tmp_path / "first-try-done"
    script = f"test -e {marker} || {{ touch {marker}; echo warming up; exit 1; }}"
    result = asyncio.run(CommandProbe(["sh", "-c", script], retries=1, backoff_s=0.01).probe())
    assert (result.ok, result.detail) == (True, "exit code 0 (attempt 2 of 2)")


def test_run_checks_aggregates_real_probes_by_criticality() -> None:
    async def scenario() -> tuple[HealthState, list[str]]:
        async with http_server([200]) as url:
            report = await run_checks(
                [
                    Check("http", HttpProbe(url, retries=0)),
                    Check("sidecar", TcpProbe("127.0.0.1", free_port(), retries=0), critical=False),
                ]
            )
        return report.state, [c.name for c in report.failing]

    assert asyncio.run(scenario()) == (HealthState.DEGRADED, ["sidecar"])
