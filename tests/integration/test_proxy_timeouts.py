"""The embedded router's timeouts and connection cap, against real demo-service processes
and raw client sockets: idle and slow clients are closed, a silent backend gives a 504."""

from __future__ import annotations

import asyncio
import socket
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path

import httpx
import pytest
from prometheus_client import generate_latest

from safeship.core.types import Replica, TrafficSplit
from safeship.testing import free_port
from safeship.traffic.proxy.embedded import EmbeddedRouter
from safeship.traffic.proxy.http import ROUTER_HEADER
from safeship.traffic.proxy.timeouts import Timeouts
from tests.helpers import read_response

Start = Callable[..., Replica]
Scenario = Callable[[EmbeddedRouter], Awaitable[None]]
GET = b"GET / HTTP/1.1\r\nHost: demo\r\n\r\n"


@pytest.fixture
def start_backend() -> Iterator[Start]:
    """Start demo-service processes (killed at the end); each returned replica is healthy."""
    started: list[subprocess.Popen[bytes]] = []

    def start(version: str, *args: str) -> Replica:
        port = free_port()
        command = [sys.executable, "-m", "safeship.demo.service", "--port", str(port)]
        process = subprocess.Popen([*command, "--version", version, *args])
        started.append(process)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            assert process.poll() is None, "demo service exited during start"
            try:
                httpx.get(f"http://127.0.0.1:{port}/health", timeout=0.5).raise_for_status()
                return Replica(f"{version}-{port}", version, "127.0.0.1", port)
            except httpx.HTTPError:
                time.sleep(0.05)
        raise AssertionError(f"demo service on {port} did not become healthy")

    try:
        yield start
    finally:
        for process in started:
            process.kill()
            process.wait()


def run(replica: Replica, timeouts: Timeouts, scenario: Scenario) -> None:
    async def main() -> None:
        router = EmbeddedRouter(service="demo", listen_port=0, timeouts=timeouts)
        await router.start()
        try:
            await router.apply(TrafficSplit(stable=(replica,)))
            await scenario(router)
        finally:
            await router.stop()

    asyncio.run(main())


async def _seconds_until_closed(reader: asyncio.StreamReader, *, within: float) -> float:
    started = time.monotonic()
    async with asyncio.timeout(within):
        while await reader.read(65536):
            pass
    return time.monotonic() - started


def test_an_idle_keep_alive_client_is_closed_after_the_idle_timeout(start_backend: Start) -> None:
    async def scenario(router: EmbeddedRouter) -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", router.port)
        writer.write(GET)
        head, _ = await read_response(reader)
        assert head.startswith(b"HTTP/1.1 200")
        writer.write(GET)  # activity re-arms the idle timeout: still open after a request
        await read_response(reader)
        assert 0.3 <= await _seconds_until_closed(reader, within=3) <= 1.5
        writer.close()

    run(start_backend("v1"), Timeouts(idle=0.4, header=5), scenario)


def test_a_client_that_never_finishes_its_request_head_gets_408_and_is_closed(
    start_backend: Start,
) -> None:
    async def scenario(router: EmbeddedRouter) -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", router.port)
        writer.write(b"GET / HTTP/1.1\r\nHost: demo\r\n")
        for header in (b"X-A: 1\r\n", b"X-B: 2\r\n"):  # trickling headers does not help
            await asyncio.sleep(0.1)
            writer.write(header)
        started = time.monotonic()
        rest = await asyncio.wait_for(reader.read(), timeout=3)
        assert rest.startswith(b"HTTP/1.1 408") and b"X-Safeship-Router: error" in rest
        assert time.monotonic() - started <= 0.6  # 0.4 s from connect, 0.2 s already spent
        silent_reader, silent_writer = await asyncio.open_connection("127.0.0.1", router.port)
        assert 0.3 <= await _seconds_until_closed(silent_reader, within=3) <= 1.5
        writer.close()
        silent_writer.close()

    run(start_backend("v1"), Timeouts(idle=30, header=0.4), scenario)


def test_a_backend_slower_than_the_response_timeout_gives_a_counted_504_not_a_retry(
    start_backend: Start,
) -> None:
    slow, fast = start_backend("slow", "--latency-ms", "3000"), start_backend("fast")

    async def scenario(router: EmbeddedRouter) -> None:
        await router.apply(TrafficSplit(stable=(slow, fast)))  # round-robin: slow first
        base = f"http://127.0.0.1:{router.port}"
        async with httpx.AsyncClient(base_url=base, timeout=5) as client:
            started = time.monotonic()
            timed_out = await client.get("/")
            elapsed = time.monotonic() - started
            after = await client.get("/")  # same client connection, still usable
        assert timed_out.status_code == 504
        assert timed_out.headers[ROUTER_HEADER] == "error"
        assert 0.25 <= elapsed < 1.0
        assert (after.status_code, after.headers["x-version"]) == (200, "fast")
        counters = router.counters()
        assert (counters["slow"].requests, counters["slow"].errors) == (1, 1)
        assert (counters["fast"].requests, counters["fast"].errors) == (1, 0)  # no retry
        _metrics_show_one_504(router)

    run(fast, Timeouts(response=0.3), scenario)


def _metrics_show_one_504(router: EmbeddedRouter) -> None:
    exposition = generate_latest(router.registry).decode()
    line = next(
        line
        for line in exposition.splitlines()
        if line.startswith("safeship_router_requests_total") and 'code="504"' in line
    )
    assert 'version="slow"' in line and line.endswith(" 1.0")


def test_a_connection_cap_queues_requests_instead_of_opening_more(start_backend: Start) -> None:
    async def scenario(router: EmbeddedRouter) -> None:
        base = f"http://127.0.0.1:{router.port}"
        limits = httpx.Limits(max_connections=8)
        async with httpx.AsyncClient(base_url=base, timeout=5, limits=limits) as client:
            started = time.monotonic()
            answers = await asyncio.gather(*(client.get("/") for _ in range(4)))
            elapsed = time.monotonic() - started
        assert [a.status_code for a in answers] == [200] * 4
        assert elapsed >= 0.75  # one upstream connection: 4 x 200 ms one after another

    run(start_backend("v1", "--latency-ms", "200"), Timeouts(max_connections=1), scenario)


def test_safeship_proxy_flags_set_the_timeouts(start_backend: Start) -> None:
    backend, port = start_backend("v1", "--latency-ms", "2000"), free_port()
    safeship = Path(sys.executable).parent / "safeship"
    flags = ["--header-timeout", "300ms", "--response-timeout", "300ms", "--max-connections", "2"]
    refused = subprocess.run(
        [str(safeship), "proxy", "--listen", "127.0.0.1:0", "--stable", backend.url]
        + ["--idle-timeout", "0s"],
        capture_output=True,
        text=True,
    )
    assert refused.returncode == 2 and "--idle-timeout" in refused.stderr
    command = [str(safeship), "proxy", "--listen", f"127.0.0.1:{port}", "--stable", backend.url]
    proxy = subprocess.Popen([*command, *flags], stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 15
        while True:
            assert proxy.poll() is None and time.monotonic() < deadline, "proxy did not start"
            try:
                answer = httpx.get(f"http://127.0.0.1:{port}/", timeout=5)
                break
            except httpx.TransportError:
                time.sleep(0.05)
        assert answer.status_code == 504 and answer.headers[ROUTER_HEADER] == "error"
        assert answer.elapsed.total_seconds() < 1.5
        with socket.create_connection(("127.0.0.1", port), timeout=3) as silent:
            started = time.monotonic()
            assert silent.recv(1024) == b""  # closed without a request: header timeout
            assert time.monotonic() - started < 1.5
    finally:
        proxy.terminate()
        proxy.wait(timeout=10)
