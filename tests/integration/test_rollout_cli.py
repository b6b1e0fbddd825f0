"""`safeship run` end to end: real replicas, the real router, real load, SQLite.

Each test runs the CLI as a user would and checks what the user sees: the exit code,
the persisted rollout and its audit trail, and that the fleet (in the agent `run` started)
keeps serving the result after the command exits.
"""

from __future__ import annotations

import json
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from safeship.store import Store
from safeship.testing import free_port
from tests.helpers import run_cli
from tests.integration.agent_kit import alive

SPEC = """\
service:
  name: shop
  command: [python, -m, safeship.demo.service, --port, "{port}", --version, "{version}"]
  stable: v1
  versions:
    bad: {args: [--error-ratio, "0.3"]}
    broken: {args: [--no-such-flag]}
fleet: {replicas: 2, startTimeout: 10s, stopTimeout: 3s}
router: {listen: "127.0.0.1:%(port)d"}
analysis:
  interval: 1s
  window: 5s
  metrics:
    - {name: success, builtin: request-success-rate, min: 0.95, minSamples: 10}
strategy:
  canary:
    steps:
      - setWeight: 50
      - analysis: {count: 2, inconclusiveLimit: 8}
"""


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    port = free_port()
    (tmp_path / "rollout.yaml").write_text(SPEC % {"port": port})
    (tmp_path / "port").write_text(str(port))
    return tmp_path


def safeship(workdir: Path, *args: str, timeout: float = 90) -> subprocess.CompletedProcess[str]:
    return run_cli(
        workdir, *args, env={"SAFESHIP_DB": f"sqlite:///{workdir}/state.db"}, timeout=timeout
    )


@pytest.fixture
def traffic(workdir: Path) -> Iterator[dict[str, int]]:
    """Steady client traffic through the router while the rollout runs (the judges need it)."""
    url = f"http://127.0.0.1:{(workdir / 'port').read_text()}/"
    counts = {"sent": 0, "ok": 0, "errors": 0}
    stop = threading.Event()

    def loop() -> None:
        with httpx.Client(timeout=2) as client:
            while not stop.is_set():
                try:
                    counts["ok" if client.get(url).status_code < 500 else "errors"] += 1
                except httpx.HTTPError:
                    time.sleep(0.05)  # the router is not up yet, or the run has ended
                    continue
                counts["sent"] += 1
                time.sleep(0.01)

    thread = threading.Thread(target=loop, daemon=True)
    thread.start()
    yield counts
    stop.set()
    thread.join(timeout=5)


def rollouts(workdir: Path) -> list[dict[str, object]]:
    result = safeship(workdir, "status", "--format", "json")
    assert result.returncode == 0, result.stdout + result.stderr
    return list(json.loads(result.stdout))


def serving(workdir: Path) -> str:
    """The version answering through the router port, after `safeship run` exited."""
    port = (workdir / "port").read_text()
    return httpx.get(f"http://127.0.0.1:{port}/version", timeout=2).text


def agent_pids(home: Path) -> list[int]:
    transport = httpx.HTTPTransport(uds=str(home / "agent.sock"))
    with httpx.Client(transport=transport, base_url="http://agent") as http:
        state = http.get("/state").json()
    units = [u for s in state["services"].values() for u in s["replicas"] + s["workers"]]
    return [state["pid"], *(u["pid"] for u in units)]


def test_good_canary_is_promoted(
    workdir: Path, traffic: dict[str, int], safeship_home: Path
) -> None:
    result = safeship(workdir, "run", "rollout.yaml", "--version", "v2")
    assert result.returncode == 0, result.stdout + result.stderr
    (latest,) = rollouts(workdir)
    assert latest["phase"] == "Promoted"
    with Store.open(f"sqlite:///{workdir}/state.db") as store:
        assert store.stable_version("shop") == "v2"
        assert store.verify_audit().ok
        actions = [e.action for e in store.audit_entries(rollout_id=str(latest["rollout_id"]))]
    assert "route all traffic to v2" in actions
    assert traffic["errors"] == 0
    assert serving(workdir) == "v2"  # run has exited; the agent's fleet serves what it shipped
    fleet = agent_pids(safeship_home)
    assert len(fleet) == 5  # the agent, 2 replicas, 2 router workers
    assert safeship(workdir, "down").returncode == 0
    assert not [pid for pid in fleet if alive(pid)]  # down leaves nothing run started


def test_bad_canary_is_rolled_back_and_stable_untouched(
    workdir: Path, traffic: dict[str, int]
) -> None:
    result = safeship(workdir, "run", "rollout.yaml", "--version", "bad")
    assert result.returncode == 1, result.stdout + result.stderr
    (latest,) = rollouts(workdir)
    assert latest["phase"] == "RolledBack"
    assert "success" in str(latest["message"])
    with Store.open(f"sqlite:///{workdir}/state.db") as store:
        assert store.stable_version("shop") is None  # never promoted: v1 stays the stable one
    assert traffic["sent"] > 0
    assert serving(workdir) == "v1"


def test_spec_error_exits_2_and_changes_nothing(workdir: Path) -> None:
    spec = workdir / "rollout.yaml"
    spec.write_text(spec.read_text().replace("setWeight: 50", "setWeight: fifty"))
    result = safeship(workdir, "run", "rollout.yaml", "--version", "v2")
    assert result.returncode == 2
    assert "rollout.yaml:18:" in result.stdout and "setWeight" in result.stdout
    assert not (workdir / "state.db").exists()


def test_replica_that_fails_to_start_fails_the_rollout_with_its_stderr(workdir: Path) -> None:
    result = safeship(workdir, "run", "rollout.yaml", "--version", "broken")
    assert result.returncode == 1, result.stdout + result.stderr
    (latest,) = rollouts(workdir)
    assert latest["phase"] == "RolledBack"
    assert "unrecognized arguments: --no-such-flag" in str(latest["message"])
