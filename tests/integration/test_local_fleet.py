"""LocalProvider against real demo-service processes: scaling, failures, and no orphans ever."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from safeship.core.errors import DeployError
from safeship.fleet.local import LocalProvider

pytestmark = pytest.mark.integration

DEMO = [sys.executable, "-m", "safeship.demo.service", "--port", "{port}", "--version", "{version}"]


def dead(pid: int) -> bool:
    """Gone, or a zombie waiting for an init that may not reap (both: no longer running)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return True
    return stat.rsplit(")", 1)[1].split()[0] in ("Z", "X")


def wait_dead(pids: list[int], timeout: float = 5.0) -> list[int]:
    deadline = time.monotonic() + timeout
    while (alive := [p for p in pids if not dead(p)]) and time.monotonic() < deadline:
        time.sleep(0.05)
    return alive


def version_of(url: str) -> str:
    return httpx.get(f"{url}/version", timeout=2.0).text


@pytest.fixture
def provider() -> Iterator[LocalProvider]:
    p = LocalProvider(service="web", command=DEMO, stop_timeout=5.0)
    try:
        yield p
    finally:
        asyncio.run(p.close())


def test_scale_up_starts_healthy_replicas_on_distinct_ports(provider: LocalProvider) -> None:
    replicas = asyncio.run(provider.scale("v1", 3))
    assert len(replicas) == 3
    assert len({r.port for r in replicas}) == 3
    assert all(r.healthy and r.version == "v1" for r in replicas)
    assert [version_of(r.url) for r in replicas] == ["v1", "v1", "v1"]


def test_scaling_again_to_the_same_count_changes_nothing(provider: LocalProvider) -> None:
    async def twice() -> tuple[list[int | None], list[int | None]]:
        first = [provider.pid(r.id) for r in await provider.scale("v1", 2)]
        second = [provider.pid(r.id) for r in await provider.scale("v1", 2)]
        return first, second

    first, second = asyncio.run(twice())
    assert first == second
    assert None not in first


def test_scale_down_stops_the_newest_gracefully_and_keeps_the_oldest(
    provider: LocalProvider,
) -> None:
    async def up_then_down() -> tuple[list[str], list[str], float]:
        up = await provider.scale("v1", 3)
        started = time.monotonic()
        down = await provider.scale("v1", 1)
        return [r.id for r in up], [r.id for r in down], time.monotonic() - started

    ids = asyncio.run(up_then_down())
    up, down, took = ids
    assert down == up[:1]
    assert took < 4.0  # SIGTERM sufficed: no wait for the 5 s SIGKILL escalation
    assert [r.id for r in asyncio.run(provider.replicas())] == up[:1]


def test_versions_scale_independently_with_their_own_args(tmp_path: Path) -> None:
    provider = LocalProvider(
        service="web", command=DEMO, version_args={"v2": ["--latency-ms", "1"]}, log_dir=tmp_path
    )

    async def scenario() -> list[tuple[str, bool]]:
        async with provider:
            await provider.scale("v1", 2)
            await provider.scale("v2", 1)
            await provider.scale("v1", 1)
            return [(r.version, r.healthy) for r in await provider.replicas()]

    assert asyncio.run(scenario()) == [("v1", True), ("v2", True)]
    assert (tmp_path / "web-v2-3.stderr.log").exists()


def test_a_command_that_fails_to_start_raises_deploy_error_with_its_stderr() -> None:
    failing = [
        sys.executable,
        "-c",
        "import sys; sys.stderr.write('boom: bad flag\\n'); sys.exit(3)",
    ]
    provider = LocalProvider(service="web", command=failing)

    async def scenario() -> tuple[str, list[object]]:
        async with provider:
            with pytest.raises(DeployError) as raised:
                await provider.scale("v9", 2)
            return str(raised.value), list(await provider.replicas())

    message, left = asyncio.run(scenario())
    assert "boom: bad flag" in message
    assert "exited with code 3" in message
    assert "'v9'" in message and "sys.exit(3)" in message
    assert left == []


def test_one_bad_replica_stops_the_good_ones_started_in_the_same_call() -> None:
    # The demo service rejects an error ratio above 1 with exit code 2.
    provider = LocalProvider(service="web", command=DEMO, version_args={"bad": ["--error-ratio"]})

    async def scenario() -> str:
        async with provider:
            await provider.scale("good", 1)
            with pytest.raises(DeployError) as raised:
                await provider.scale("bad", 2)
            assert [r.version for r in await provider.replicas()] == ["good"]
            return str(raised.value)

    message = asyncio.run(scenario())
    assert "exited with code 2" in message
    assert "--error-ratio" in message


def test_a_replica_that_never_answers_times_out_and_is_stopped() -> None:
    provider = LocalProvider(
        service="web", command=["sleep", "30"], start_timeout=0.5, stop_timeout=1.0
    )

    async def scenario() -> str:
        async with provider:
            with pytest.raises(DeployError) as raised:
                await provider.scale("v1", 1)
            return str(raised.value)

    message = asyncio.run(scenario())
    assert "did not answer" in message and "within 0.5s" in message
    assert "(stderr was empty)" in message


def test_a_dead_replica_is_reported_unhealthy_and_replaced_by_the_next_scale(
    provider: LocalProvider,
) -> None:
    async def scenario() -> tuple[bool, int | None, int | None]:
        [replica] = await provider.scale("v1", 1)
        old_pid = provider.pid(replica.id)
        assert old_pid is not None
        os.kill(old_pid, signal.SIGKILL)
        await asyncio.sleep(0.3)
        [observed] = await provider.replicas()
        [fresh] = await provider.scale("v1", 1)
        return observed.healthy, old_pid, provider.pid(fresh.id)

    healthy_after_kill, old_pid, new_pid = asyncio.run(scenario())
    assert healthy_after_kill is False
    assert new_pid is not None and new_pid != old_pid


def test_stop_escalates_to_sigkill_for_a_replica_that_ignores_sigterm(tmp_path: Path) -> None:
    stubborn = tmp_path / "stubborn.py"
    stubborn.write_text(STUBBORN_SERVER)
    provider = LocalProvider(
        service="web", command=[sys.executable, str(stubborn), "{port}"], stop_timeout=0.5
    )

    async def scenario() -> tuple[int, float]:
        [replica] = await provider.scale("v1", 1)
        pid = provider.pid(replica.id)
        assert pid is not None
        started = time.monotonic()
        await provider.close()
        return pid, time.monotonic() - started

    pid, took = asyncio.run(scenario())
    assert not Path(f"/proc/{pid}").exists()  # killed and reaped: not even a zombie
    assert 0.4 < took < 3.0


def test_a_lost_port_race_is_retried_on_another_port(tmp_path: Path) -> None:
    racer = tmp_path / "racer.py"
    racer.write_text(PORT_RACER)
    marker = tmp_path / "lost-once"
    command = [sys.executable, str(racer), "{port}", str(marker)]
    provider = LocalProvider(service="web", command=command, log_dir=tmp_path)

    async def scenario() -> list[str]:
        async with provider:
            return [r.id for r in await provider.scale("v1", 1)]

    assert asyncio.run(scenario()) == ["web-v1-2"]  # the first attempt lost its port
    assert "Address already in use" in (tmp_path / "web-v1-1.stderr.log").read_text()


def test_close_stops_and_reaps_every_child() -> None:
    provider = LocalProvider(service="web", command=DEMO)

    async def scenario() -> list[int]:
        await provider.scale("v1", 2)
        await provider.scale("v2", 1)
        pids = [provider.pid(r.id) for r in await provider.replicas()]
        await provider.close()
        return [p for p in pids if p is not None]

    pids = asyncio.run(scenario())
    assert len(pids) == 3
    assert [p for p in pids if Path(f"/proc/{p}").exists()] == []
    assert asyncio.run(provider.replicas()) == []


@pytest.mark.parametrize(
    ("ending", "expected_code"),
    [("sigkill", -signal.SIGKILL), ("sigterm", -signal.SIGTERM), ("exit", 0)],
)
def test_no_orphans_when_the_parent_dies(tmp_path: Path, ending: str, expected_code: int) -> None:
    script = tmp_path / "parent.py"
    script.write_text(PARENT_SCRIPT)
    parent = subprocess.Popen(
        [sys.executable, str(script), ending], stdout=subprocess.PIPE, text=True
    )
    try:
        assert parent.stdout is not None
        pids: list[int] = json.loads(parent.stdout.readline())
        assert len(pids) == 2 and not any(dead(p) for p in pids)
        if ending != "exit":
            parent.send_signal(signal.SIGKILL if ending == "sigkill" else signal.SIGTERM)
        assert parent.wait(timeout=10) == expected_code
        assert wait_dead(pids) == []
    finally:
        parent.kill()
        parent.wait()


PARENT_SCRIPT = """
import asyncio, json, sys
from safeship.fleet.local import LocalProvider

DEMO = [sys.executable, "-m", "safeship.demo.service", "--port", "{port}", "--version", "{version}"]

async def main() -> None:
    provider = LocalProvider(service="orphans", command=DEMO)
    replicas = await provider.scale("v1", 2)
    print(json.dumps([provider.pid(r.id) for r in replicas]), flush=True)
    if sys.argv[1] != "exit":
        await asyncio.sleep(60)

asyncio.run(main())
"""

STUBBORN_SERVER = """
import signal, sys
from http.server import BaseHTTPRequestHandler, HTTPServer

class Ok(BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args):
        pass

signal.signal(signal.SIGTERM, signal.SIG_IGN)
HTTPServer(("127.0.0.1", int(sys.argv[1])), Ok).serve_forever()
"""

PORT_RACER = STUBBORN_SERVER.replace(
    "signal.signal(signal.SIGTERM, signal.SIG_IGN)",
    """import pathlib
marker = pathlib.Path(sys.argv[2])
if not marker.exists():  # the first run behaves as if someone else took the port
    marker.touch()
    sys.exit("OSError: [Errno 98] Address already in use")""",
)
