"""The load generator against real demo-service processes, as a module and as a command."""

from __future__ import annotations

import asyncio
import json
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from safeship.core.types import Replica
from safeship.demo.load import run_load
from safeship.fleet.local import LocalProvider

pytestmark = pytest.mark.integration

DEMO = [sys.executable, "-m", "safeship.demo.service", "--port", "{port}", "--version", "{version}"]
LOAD = [sys.executable, "-m", "safeship.demo.load"]


@pytest.fixture(scope="module")
def backends() -> Iterator[dict[str, Replica]]:
    """A good version and one that fails a fifth of its requests, both real processes."""
    provider = LocalProvider(
        service="load", command=DEMO, version_args={"bad": ["--error-ratio", "0.2"]}
    )
    try:
        [good] = asyncio.run(provider.scale("good", 1))
        [bad] = asyncio.run(provider.scale("bad", 1))
        yield {"good": good, "bad": bad}
    finally:
        asyncio.run(provider.close())


def load(args: list[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*LOAD, *args], capture_output=True, text=True, timeout=30, check=False)


def test_command_counts_a_bad_versions_errors_and_writes_the_report(
    backends: dict[str, Replica], tmp_path: Path
) -> None:
    out = tmp_path / "report.json"
    url = f"{backends['bad'].url}/"
    done = load(["--url", url, "--rate", "200", "--duration", "1.5s", "--out", str(out)])
    assert done.returncode == 0, done.stderr
    report = json.loads(out.read_text())
    assert 150 <= report["sent"] <= 300  # 200/s for 1.5 s; a starved CPU may send fewer
    assert report["mechanics_errors"] == 0, report["mechanics_error_samples"]
    errors = report["version_errors"]["bad"]
    assert report["ok"] + errors == report["sent"]
    assert 0.1 < errors / report["sent"] < 0.3
    assert report["by_version"] == {"bad": {"ok": report["ok"], "errors": errors}}
    assert abs(report["first_seen"]["bad"] - time.time()) < 10
    assert sum(s["ok"] + s["version_error"] for s in report["per_second"]) == report["sent"]
    assert 1.4 < report["duration_s"] < 3.0


def test_run_load_attributes_answers_to_the_version_that_gave_them(
    backends: dict[str, Replica],
) -> None:
    report = asyncio.run(run_load(url=f"{backends['good'].url}/", rate=100, duration=1.0))
    assert 50 <= report.sent <= 100
    assert report.ok == report.sent
    assert report.by_version == {"good": {"ok": report.sent, "errors": 0}}
    assert report.version_errors == {} and report.mechanics_errors == 0


def test_refused_connections_are_mechanics_errors_with_samples() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    report = asyncio.run(run_load(url=f"http://127.0.0.1:{port}/", rate=50, duration=0.5))
    assert report.sent == report.mechanics_errors
    assert 10 < report.sent <= 25
    assert len(report.mechanics_error_samples) == 10
    assert all("ConnectError" in s for s in report.mechanics_error_samples)


def test_a_stop_event_ends_the_run_early(backends: dict[str, Replica]) -> None:
    async def scenario() -> float:
        stop = asyncio.Event()
        asyncio.get_running_loop().call_later(0.5, stop.set)
        report = await run_load(
            url=f"{backends['good'].url}/", rate=100, duration=30, stop_event=stop
        )
        assert report.sent == report.ok
        return report.duration_s

    assert asyncio.run(scenario()) < 1.5


def test_sigterm_stops_the_command_which_still_writes_its_report(
    backends: dict[str, Replica], tmp_path: Path
) -> None:
    out = tmp_path / "report.json"
    args = ["--url", f"{backends['good'].url}/", "--rate", "50", "--duration", "60"]
    proc = subprocess.Popen([*LOAD, *args, "--out", str(out)], stderr=subprocess.PIPE)
    try:
        time.sleep(1.0)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=10) == 0
    finally:
        proc.kill()
        proc.wait()
    report = json.loads(out.read_text())
    assert report["sent"] > 0 and report["ok"] == report["sent"]
    assert report["duration_s"] < 5


@pytest.mark.parametrize(
    ("args", "complaint"),
    [
        (["--url", "http://10.1.2.3/", "--rate", "10", "--duration", "1"], "loopback"),
        (["--url", "http://example.com/", "--rate", "10", "--duration", "1"], "loopback"),
        (["--url", "http://127.0.0.1:1/", "--rate", "5000", "--duration", "1"], "--rate"),
        (["--url", "http://127.0.0.1:1/", "--rate", "10", "--duration", "2h"], "--duration"),
    ],
)
def test_command_refuses_bad_input_with_exit_2_and_sends_nothing(
    tmp_path: Path, args: list[str], complaint: str
) -> None:
    out = tmp_path / "report.json"
    done = load([*args, "--out", str(out)])
    assert done.returncode == 2
    assert complaint in done.stderr
    assert not out.exists()
