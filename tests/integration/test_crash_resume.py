"""Crash safety: `safeship run` SIGKILLed mid-rollout under load fails no request (the fleet
and the router live in the agent), and the same command run again resumes the rollout from
the store and finishes it; the fleet then keeps serving the shipped version."""

from __future__ import annotations

import json
import os
import secrets
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from safeship.store.repository import Store
from safeship.testing import free_port

BIN = Path(sys.executable).parent
MARKER_VAR = "SAFESHIP_CRASH_MARKER"

SPEC = """\
service:
  name: crashy
  command: [python, -m, safeship.demo.service, --port, "{{port}}", --version, "{{version}}"]
  stable: v1
  env: {{{marker_var}: "{marker}"}}
fleet: {{replicas: 2, startTimeout: 15s, stopTimeout: 2s}}
router: {{listen: "127.0.0.1:{port}", drainTimeout: 1s}}
analysis:
  interval: 1s
  window: 2s
  metrics:
    - {{name: success, builtin: request-success-rate, min: 0.95, minSamples: 5}}
strategy:
  canary:
    steps:
      - setWeight: 50
      - analysis: {{count: 3, inconclusiveLimit: 20}}
      - pause: {{duration: 1s}}
"""


def marked(marker: str) -> list[int]:
    """Pids (not ours) whose environment carries the marker: replicas and controllers."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and int(entry.name) != os.getpid():
            try:
                if marker.encode() in (entry / "environ").read_bytes():
                    found.append(int(entry.name))
            except OSError:
                continue
    return found


def wait_until(condition: Callable[[], object], *, within: float) -> bool:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.1)
    return bool(condition())


def newest(db: str) -> tuple[str, int, str] | None:
    with Store.open(db) as store:
        records = store.list_rollouts(limit=1)
    if not records:
        return None
    return records[0].phase, int(records[0].status.get("step_index", 0)), records[0].id


def answers(url: str) -> str | None:
    try:
        return httpx.get(url, timeout=2).text
    except httpx.HTTPError:
        return None


@pytest.fixture
def world(tmp_path: Path) -> Iterator[tuple[Path, str, str, str]]:
    """A spec, its database URL, the marker and the router's URL; every marked process is
    SIGKILLed afterwards (the agent fixture also stops the fleet)."""
    port, marker = free_port(), f"crash-{secrets.token_hex(4)}"
    spec = tmp_path / "rollout.yaml"
    spec.write_text(SPEC.format(port=port, marker=marker, marker_var=MARKER_VAR))
    try:
        yield spec, f"sqlite:///{tmp_path / 'state.db'}", marker, f"http://127.0.0.1:{port}/"
    finally:
        for pid in marked(marker):
            os.kill(pid, signal.SIGKILL)


def test_a_killed_run_fails_no_request_and_resumes_to_promoted(
    world: tuple[Path, str, str, str],
) -> None:
    spec, db, marker, url = world
    log = spec.parent / "run.log"
    argv = [str(BIN / "safeship"), "run", str(spec), "--version", "v2", "--db", db]
    env = {**os.environ, MARKER_VAR: marker}
    report = spec.parent / "load.json"
    with log.open("a") as out:
        first = subprocess.Popen(argv, env=env, stdout=out, stderr=out)
        try:
            assert wait_until(lambda: answers(url) == "hello from v1\n", within=30), log.read_text()
            load = subprocess.Popen(
                [sys.executable, "-m", "safeship.demo.load", "--url", url, "--rate", "40"]
                + ["--duration", "60s", "--out", str(report)],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            in_analysis = wait_until(lambda: (newest(db) or ("", 0, ""))[1] >= 1, within=30)
        finally:
            first.send_signal(signal.SIGKILL)
            first.wait()
        assert in_analysis, log.read_text()
        killed_at = newest(db)
        assert killed_at is not None and killed_at[0] == "Progressing"
        time.sleep(2)  # the load goes on with nobody steering
        assert marked(marker), "the fleet died with safeship run"

        second = subprocess.run(argv, env=env, stdout=out, stderr=out, timeout=60, check=False)
    load.send_signal(signal.SIGTERM)
    load.wait(timeout=20)
    assert second.returncode == 0, log.read_text()
    assert newest(db) == ("Promoted", 3, killed_at[2])  # the same rollout, finished
    assert answers(url) == "hello from v2\n"  # the run is over, the fleet serves its result
    figures = json.loads(report.read_text())
    assert figures["sent"] > 100 and figures["mechanics_errors"] == 0, figures
    verify = subprocess.run(
        [str(BIN / "safeship"), "audit", "verify", "--db", db], capture_output=True, text=True
    )
    assert verify.returncode == 0, verify.stdout + verify.stderr
    with Store.open(db) as store:
        actions = [e.action for e in store.audit_entries(rollout_id=killed_at[2])]
    assert "resume rollout" in actions
