"""`safeship proxy` as a user runs it: a real process in front of a real demo service."""

from __future__ import annotations

import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from safeship.testing import free_port

SAFESHIP = Path(sys.executable).parent / "safeship"


def _wait_for(url: str, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        assert process.poll() is None, f"{process.args!r} exited with {process.returncode}"
        try:
            httpx.get(url, timeout=0.5)
            return
        except httpx.TransportError:
            time.sleep(0.05)
    raise AssertionError(f"{url} did not answer")


@pytest.fixture
def spawn() -> Iterator[list[subprocess.Popen[bytes]]]:
    started: list[subprocess.Popen[bytes]] = []
    try:
        yield started
    finally:
        for process in started:
            process.kill()
            process.wait()


def _backend(spawn: list[subprocess.Popen[bytes]], *args: str) -> int:
    port = free_port()
    command = [sys.executable, "-m", "safeship.demo.service", "--port", str(port), *args]
    spawn.append(subprocess.Popen(command, stderr=subprocess.DEVNULL))
    _wait_for(f"http://127.0.0.1:{port}/health", spawn[-1])
    return port


def test_proxy_serves_reports_metrics_and_drains_on_sigterm(
    spawn: list[subprocess.Popen[bytes]],
) -> None:
    assert SAFESHIP.exists(), f"the safeship entry point is not installed at {SAFESHIP}"
    backend = _backend(spawn, "--version", "v1", "--latency-ms", "300")
    port, metrics = free_port(), free_port()
    command = [str(SAFESHIP), "proxy", "--listen", f"127.0.0.1:{port}"]
    command += ["--stable", f"http://127.0.0.1:{backend}", "--service", "shop"]
    command += ["--metrics-listen", f"127.0.0.1:{metrics}", "--stable-version", "v1"]
    proxy = subprocess.Popen(command, stderr=subprocess.PIPE)
    spawn.append(proxy)
    _wait_for(f"http://127.0.0.1:{metrics}/metrics", proxy)

    answer = httpx.get(f"http://127.0.0.1:{port}/", timeout=5)
    assert (answer.status_code, answer.headers["x-version"]) == (200, "v1")
    exposition = httpx.get(f"http://127.0.0.1:{metrics}/metrics").text
    assert (
        'safeship_router_requests_total{code="200",pool="stable",service="shop",version="v1"} 1.0'
        in exposition
    )

    in_flight: list[httpx.Response] = []
    slow = threading.Thread(
        target=lambda: in_flight.append(httpx.get(f"http://127.0.0.1:{port}/", timeout=5))
    )
    slow.start()
    time.sleep(0.1)
    proxy.send_signal(signal.SIGTERM)
    slow.join(timeout=5)
    assert proxy.wait(timeout=10) == 0
    assert [r.status_code for r in in_flight] == [200]


@pytest.mark.parametrize(
    "args",
    [
        ["--listen", "127.0.0.1:0", "--stable", "ftp://127.0.0.1:1"],
        ["--listen", "nowhere", "--stable", "http://127.0.0.1:1"],
        ["--listen", "127.0.0.1:0", "--stable", "http://127.0.0.1:1", "--weight", "20"],
    ],
)
def test_bad_arguments_exit_2_with_a_message(args: list[str]) -> None:
    result = subprocess.run(
        [str(SAFESHIP), "proxy", *args], capture_output=True, text=True, timeout=30
    )
    assert result.returncode == 2
    assert "error:" in result.stderr
