"""Manual gates on real rollouts: `safeship run` in one process, a person's `safeship pause |
resume | promote | abort | rollback | retry` in another, meeting only through the store."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from test_strategies_local import (  # noqa: F401  (the traffic_to fixture)
    Workdir,
    traffic_to,
    workdir_for,
)

from safeship.store import Store


def wait_for(
    what: Callable[[], dict[str, object] | None],
    timeout: float = 60,
    wd: Workdir | None = None,
) -> dict[str, object]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = what()
        if found:
            return found
        time.sleep(0.2)
    seen = wd.rollouts()[:1] if wd is not None else "?"
    raise AssertionError(f"timed out waiting; the latest rollout: {seen}")


def latest_when(wd: Workdir, **wanted: object) -> Callable[[], dict[str, object] | None]:
    def check() -> dict[str, object] | None:
        rollouts = wd.rollouts()
        if rollouts and all(rollouts[0].get(k) == v for k, v in wanted.items()):
            return rollouts[0]
        return None

    return check


def _midway(wd: Workdir) -> dict[str, object] | None:
    """Past its first step and not finished: progressing, or paused because a step could
    not be judged yet (an abort must work from both)."""
    rollouts = wd.rollouts()
    if (
        rollouts
        and rollouts[0]["phase"] in ("Progressing", "Paused")
        and int(str(rollouts[0]["step_index"])) >= 1
    ):
        return rollouts[0]
    return None


def slow_down(wd: Workdir) -> None:
    """Checks every 4 s instead of every second: the examples finish in seconds, and the
    `safeship abort` process (seconds to start on a loaded machine) must meet the rollout
    midway, not after it promoted."""
    text = wd.spec.read_text().replace("interval: 1s", "interval: 4s")
    wd.spec.write_text(text.replace("stabilityPeriod: 2s", "stabilityPeriod: 8s"))


def finish(proc: subprocess.Popen[str]) -> tuple[int, str]:
    out, _ = proc.communicate(timeout=60)
    return proc.returncode, out


@pytest.mark.parametrize(
    "example", ["rolling.yaml", "waves.yaml", "traffic-split.yaml", "blue-green.yaml"]
)
def test_abort_midway_rolls_back_and_records_who(
    tmp_path: Path,
    example: str,
    traffic_to: list[Workdir],  # noqa: F811
) -> None:
    wd = workdir_for(tmp_path, example)
    slow_down(wd)
    traffic_to.append(wd)
    proc = wd.start("v2")
    try:
        running = wait_for(lambda: _midway(wd), wd=wd)
        asked = wd.cli("abort", str(running["rollout_id"]), "--reason", "wrong build")
        assert asked.returncode == 0, asked.stdout + asked.stderr
        code, out = finish(proc)
    finally:
        proc.kill()
    assert code == 1, out
    with Store.open(wd.db) as store:
        record = store.get_rollout(str(running["rollout_id"]))
        assert record is not None and record.result == "aborted"
        assert "aborted by" in record.reason and "wrong build" in record.reason
        assert store.verify_audit().ok


CANARY_WITH_GATE = """\
service:
  name: gate
  command: [python, -m, safeship.demo.service, --port, "{port}", --version, "{version}"]
  stable: v1
fleet: {replicas: 2, startTimeout: 10s, stopTimeout: 3s}
router: {listen: "127.0.0.1:%d", drainTimeout: 1s}
strategy:
  canary:
    steps:
      - setWeight: 30
      - pause: {}
      - setWeight: 60
      - pause: {duration: 1h}
"""


def gate_workdir(tmp_path: Path) -> Workdir:
    wd = workdir_for(tmp_path, "canary.yaml")
    wd.spec.write_text(CANARY_WITH_GATE % wd.port)
    return wd


def test_open_pause_waits_for_promote_then_promote_full_finishes(tmp_path: Path) -> None:
    wd = gate_workdir(tmp_path)
    proc = wd.start("v2")
    try:
        paused = wait_for(latest_when(wd, phase="Paused"))
        assert paused["message"] == "paused until promoted"
        rollout = str(paused["rollout_id"])
        assert wd.cli("promote", rollout).returncode == 0
        wait_for(latest_when(wd, phase="Progressing", step_index=3))  # the hour-long pause
        assert wd.cli("promote", rollout, "--full").returncode == 0
        code, out = finish(proc)
    finally:
        proc.kill()
    assert code == 0, out
    assert wd.rollouts()[0]["phase"] == "Promoted"


def test_pause_resume_then_fast_rollback_and_retry(tmp_path: Path) -> None:
    wd = gate_workdir(tmp_path)
    proc = wd.start("v2")
    try:
        rollout = str(wait_for(latest_when(wd, phase="Paused"))["rollout_id"])
        assert wd.cli("promote", rollout).returncode == 0
        wait_for(latest_when(wd, step_index=3))
        assert wd.cli("pause", rollout, "--reason", "watching").returncode == 0
        wait_for(latest_when(wd, phase="Paused", message=f"paused by {_user()} (watching)"))
        assert wd.cli("resume", rollout).returncode == 0
        wait_for(latest_when(wd, phase="Progressing", step_index=3))
        started = time.monotonic()
        assert wd.cli("rollback", rollout, "--strategy", "fast").returncode == 0
        code, out = finish(proc)
        took = time.monotonic() - started
    finally:
        proc.kill()
    assert code == 1, out
    assert took <= 5.0, f"fast rollback took {took:.2f}s"
    assert wd.cli("abort", rollout).returncode == 2  # finished: nothing to abort
    retry = subprocess.Popen(
        [sys.executable, "-m", "safeship.cli", "retry", rollout],
        cwd=wd.path,
        env=wd.env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        again = wait_for(latest_when(wd, phase="Paused"))  # the stored spec's open pause
        assert again["rollout_id"] != rollout
        assert wd.cli("promote", str(again["rollout_id"]), "--full").returncode == 0
        code, out = finish(retry)
    finally:
        retry.kill()
    assert code == 0, out
    assert wd.rollouts()[0]["phase"] == "Promoted"


def _user() -> str:
    import os

    return os.environ.get("USER", "cli")


def test_gate_on_unknown_rollout_exits_2(tmp_path: Path) -> None:
    wd = gate_workdir(tmp_path)
    result = wd.cli("pause", "nope")
    assert result.returncode == 2
    assert "no rollout nope" in result.stdout
