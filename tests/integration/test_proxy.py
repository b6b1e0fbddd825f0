"""The embedded router in front of real demo-service processes, over real sockets."""

from __future__ import annotations

import asyncio
import signal
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable, Iterator

import httpx
import pytest
from prometheus_client import CollectorRegistry

from safeship.core.types import Replica, TrafficSplit
from safeship.testing import free_port
from safeship.traffic.proxy.embedded import EmbeddedRouter
from tests.helpers import read_response

Start = Callable[..., Replica]


def _wait_healthy(process: subprocess.Popen[bytes], port: int) -> None:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        assert process.poll() is None, "demo service exited during start"
        try:
            if httpx.get(f"http://127.0.0.1:{port}/health", timeout=0.5).status_code == 200:
                return
        except httpx.TransportError:
            time.sleep(0.05)
    raise AssertionError(f"demo service on {port} did not become healthy")


@pytest.fixture
def processes() -> Iterator[dict[int, subprocess.Popen[bytes]]]:
    started: dict[int, subprocess.Popen[bytes]] = {}
    try:
        yield started
    finally:
        for process in started.values():
            process.kill()
            process.wait()


@pytest.fixture
def start_backend(processes: dict[int, subprocess.Popen[bytes]]) -> Start:
    """Start a demo-service process; the replica it returns is reachable and healthy."""

    def start(version: str, *args: str, port: int = 0) -> Replica:
        port = port or free_port()
        command = [sys.executable, "-m", "safeship.demo.service", "--port", str(port)]
        processes[port] = subprocess.Popen(
            [*command, "--version", version, *args], stderr=subprocess.DEVNULL
        )
        _wait_healthy(processes[port], port)
        return Replica(f"{version}-{port}", version, "127.0.0.1", port)

    return start


def run_with_router(
    scenario: Callable[[EmbeddedRouter, httpx.AsyncClient], Awaitable[None]],
    **router_options: object,
) -> None:
    async def main() -> None:
        router = EmbeddedRouter(service="demo", listen_port=0, **router_options)  # type: ignore[arg-type]
        await router.start()
        try:
            base = f"http://127.0.0.1:{router.port}"
            async with httpx.AsyncClient(base_url=base, timeout=10) as client:
                await scenario(router, client)
        finally:
            await router.stop()

    asyncio.run(main())


def test_proxies_requests_with_bodies_over_one_keep_alive_connection(start_backend: Start) -> None:
    v1 = start_backend("v1")

    async def scenario(router: EmbeddedRouter, client: httpx.AsyncClient) -> None:
        await router.apply(TrafficSplit(stable=(v1,)))
        reader, writer = await asyncio.open_connection("127.0.0.1", router.port)
        writer.write(
            b"POST /?x=1 HTTP/1.1\r\nHost: demo\r\nTransfer-Encoding: chunked\r\n\r\n"
            b"5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n"
        )
        first = await read_response(reader)
        writer.write(b"GET /version HTTP/1.1\r\nHost: demo\r\nContent-Length: 0\r\n\r\n")
        second = await read_response(reader)
        writer.write(b"GET / HTTP/1.1\r\nHost: demo\r\nConnection: close\r\n\r\n")
        third = await read_response(reader)
        assert await reader.read() == b""  # closed as asked
        writer.close()
        assert first[0].startswith(b"HTTP/1.1 200") and b"X-Version: v1" in first[0]
        assert first[1] == b"hello from v1\n"
        assert second[1] == b"v1"
        assert third[1] == b"hello from v1\n"
        assert router.counters()["v1"].requests == 3

    run_with_router(scenario)


def test_canary_weight_split_is_seen_in_x_version(start_backend: Start) -> None:
    stable, canary = start_backend("v1"), start_backend("v2")

    async def scenario(router: EmbeddedRouter, client: httpx.AsyncClient) -> None:
        split = TrafficSplit(stable=(stable,), canary=(canary,), canary_weight=25)
        await router.apply(split)
        await router.apply(split)  # idempotent
        assert router.current() == split
        versions = [(await client.get("/")).headers["x-version"] for _ in range(400)]
        assert 90 <= versions.count("v2") <= 110
        assert versions.count("v1") + versions.count("v2") == 400
        counters = router.counters()
        assert counters["v2"].requests == versions.count("v2")

    run_with_router(scenario)


def test_drain_lets_a_slow_in_flight_request_finish_before_apply_returns(
    start_backend: Start,
) -> None:
    slow, fast = start_backend("slow", "--latency-ms", "800"), start_backend("fast")

    async def scenario(router: EmbeddedRouter, client: httpx.AsyncClient) -> None:
        await router.apply(TrafficSplit(stable=(slow,)))
        finished_at: list[float] = []

        async def slow_request() -> httpx.Response:
            response = await client.get("/")
            finished_at.append(time.monotonic())
            return response

        in_flight = asyncio.create_task(slow_request())
        await asyncio.sleep(0.2)
        await router.apply(TrafficSplit(stable=(fast,)))
        applied_at = time.monotonic()
        response = await in_flight
        assert (response.status_code, response.headers["x-version"]) == (200, "slow")
        assert finished_at and applied_at >= finished_at[0] - 0.05
        after = await client.get("/")
        assert after.headers["x-version"] == "fast"

    run_with_router(scenario)


def test_a_killed_backend_causes_no_client_visible_errors(
    start_backend: Start, processes: dict[int, subprocess.Popen[bytes]]
) -> None:
    doomed, survivor = start_backend("v1"), start_backend("v1")

    async def scenario(router: EmbeddedRouter, client: httpx.AsyncClient) -> None:
        await router.apply(TrafficSplit(stable=(doomed, survivor)))
        codes: list[int] = []
        stop_at = time.monotonic() + 1.5

        async def worker() -> None:
            while time.monotonic() < stop_at:
                codes.append((await client.get("/")).status_code)

        async def kill_later() -> None:
            await asyncio.sleep(0.5)
            processes[doomed.port].send_signal(signal.SIGKILL)

        await asyncio.gather(*(worker() for _ in range(8)), kill_later())
        assert processes[doomed.port].poll() is not None
        assert len(codes) > 100
        assert set(codes) == {200}

    run_with_router(scenario)


def test_a_backend_restarted_on_its_port_is_reached_through_stale_pooled_connections(
    start_backend: Start, processes: dict[int, subprocess.Popen[bytes]]
) -> None:
    first = start_backend("v1")

    async def scenario(router: EmbeddedRouter, client: httpx.AsyncClient) -> None:
        await router.apply(TrafficSplit(stable=(first,)))
        answers = await asyncio.gather(*(client.get("/") for _ in range(8)))  # fills the pool
        assert {a.status_code for a in answers} == {200}
        processes[first.port].send_signal(signal.SIGTERM)  # closes its idle connections
        await asyncio.to_thread(processes[first.port].wait, 5)
        await asyncio.to_thread(start_backend, "v1", port=first.port)
        after = await asyncio.gather(*(client.get("/") for _ in range(8)))
        assert [a.status_code for a in after] == [200] * 8

    run_with_router(scenario)


def test_no_backend_answers_503_and_all_failed_answers_502(start_backend: Start) -> None:
    nothing_listens = Replica("gone", "v9", "127.0.0.1", free_port())

    async def scenario(router: EmbeddedRouter, client: httpx.AsyncClient) -> None:
        empty = await client.get("/")
        assert empty.status_code == 503
        assert empty.headers["x-safeship-router"] == "error"
        await router.apply(TrafficSplit(stable=(nothing_listens,)))
        failed = await client.get("/")
        assert failed.status_code == 502
        assert failed.headers["x-safeship-router"] == "error"
        counters = router.counters()
        assert (counters["v9"].requests, counters["v9"].errors) == (1, 1)

    run_with_router(scenario)


def test_metrics_endpoint_exposes_requests_and_durations(start_backend: Start) -> None:
    flaky = start_backend("v3", "--error-ratio", "0.5", "--seed", "3")
    registry = CollectorRegistry()

    async def scenario(router: EmbeddedRouter, client: httpx.AsyncClient) -> None:
        await router.apply(TrafficSplit(stable=(), canary=(flaky,), canary_weight=100))
        codes = [(await client.get("/")).status_code for _ in range(40)]
        async with httpx.AsyncClient() as scraper:
            text = (await scraper.get(f"http://127.0.0.1:{router.metrics_port}/metrics")).text
        labels = 'pool="canary",service="demo",version="v3"'
        for code in (200, 500):
            line = f'safeship_router_requests_total{{code="{code}",{labels}}} {codes.count(code)}.0'
            assert line in text
        assert f"safeship_router_request_duration_seconds_count{{{labels}}} 40.0" in text
        assert f'safeship_router_request_duration_seconds_bucket{{le="+Inf",{labels}}} 40.0' in text
        assert registry.get_sample_value(
            "safeship_router_requests_total",
            {"service": "demo", "pool": "canary", "version": "v3", "code": "500"},
        ) == codes.count(500)
        assert router.counters()["v3"].errors == codes.count(500) > 0

    run_with_router(scenario, registry=registry, metrics_port=0)
